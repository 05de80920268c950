"""The app's own tests: SQLite in memory, nothing read from the environment but APP_VERSION."""
from .base import *  # noqa: F403
from .base import logging_config

SECRET_KEY = "test-only-secret-key"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
LOGGING = logging_config("CRITICAL")
# No collectstatic before the tests, so no manifest to look names up in.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
