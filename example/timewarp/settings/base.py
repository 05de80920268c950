"""Settings shared by dev, prod and test. Reads no secrets, so `collectstatic` can run with it at build time."""
from pathlib import Path

from ..logs import logging_config
from .env import get_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# The release being served, reported by /health/ (the deploy sets it from the image tag).
APP_VERSION = get_str("APP_VERSION", "unknown")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "events",
]

MIDDLEWARE = [
    # Outermost: gives every request its id and logs its line (status, duration), including the
    # answers of the middleware below; /health/'s lines at DEBUG (probes every few seconds).
    "timewarp.logs.RequestLogMiddleware",
    # Next: answers /health/ before anything checks the Host header against ALLOWED_HOSTS.
    "timewarp.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "timewarp.urls"
WSGI_APPLICATION = "timewarp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

DATABASES = {}  # each environment's module sets the default database

REST_FRAMEWORK = {
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    # The example is an open demo API: add authentication before it stores anything private.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic (run in the image build) writes here; the deploy copies it out for nginx.
STATIC_ROOT = BASE_DIR / "staticfiles"
# Content-hashed copies (base.3f2a1b9c8d7e.css) and a manifest: nginx lets browsers keep them
# for a year, and the files of every release can share one directory on the host.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# JSON lines on stdout (timewarp/logs.py), where Docker collects them.
LOGGING = logging_config(get_str("LOG_LEVEL", "INFO").upper())
