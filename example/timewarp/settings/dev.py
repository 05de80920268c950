"""Local development: DEBUG on and a local PostgreSQL; environment variables still override."""
from .base import *  # noqa: F403
from .env import database_config, get_bool, get_list, get_secret

SECRET_KEY = get_secret("SECRET_KEY", "dev-only-insecure-secret-key")
DEBUG = get_bool("DEBUG", True)
ALLOWED_HOSTS = get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = get_list("CSRF_TRUSTED_ORIGINS", [])
DATABASES = {
    "default": database_config({"NAME": "timewarp", "USER": "timewarp", "PASSWORD": "timewarp", "HOST": "127.0.0.1"})
}
