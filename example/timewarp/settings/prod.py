"""Production: every value comes from the release env file; required ones fail loudly."""
from .base import *  # noqa: F403
from .env import database_config, get_bool, get_list, get_secret

SECRET_KEY = get_secret(
    "SECRET_KEY",
    hint="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
)
DEBUG = get_bool("DEBUG", False)
ALLOWED_HOSTS = get_list(
    "ALLOWED_HOSTS", hint="the comma-separated host names the API is served under, e.g. api.example.com"
)
CSRF_TRUSTED_ORIGINS = get_list("CSRF_TRUSTED_ORIGINS", [])
DATABASES = {"default": database_config()}

# nginx terminates TLS in front of gunicorn and sets X-Forwarded-Proto on every request.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
