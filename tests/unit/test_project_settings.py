"""Reading a Django project's settings from source, the DATABASES merge the deploy settings use,
and the Python version a project asks for."""

import importlib.util

import pytest

from onehost.commands import django_settings, python_version, request_logging
from onehost.local.init import TEMPLATES

pytestmark = pytest.mark.unit


def load_databases():
    """templates/init/databases.py, the module init copies into <package>/onehost/."""
    spec = importlib.util.spec_from_file_location("onehost_databases", TEMPLATES / "databases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("text, module", [
    ('import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.base")\n', "config.django.base"),
    ("import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n", "shop.settings"),
    ('import os\nos.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.production"\n',
     "config.settings.production"),
    ('os.environ.setdefault("DJANGO_SETTINGS_MODULE", "a.b")\nif (\n', "a.b"),  # not Python: read as text
    ("import os\n", None),
])
def test_the_settings_module_a_file_names(text, module):
    assert django_settings.settings_default(text) == module


def test_star_imports_resolve_relative_names():
    text = "from .base import *  # noqa\nfrom ..common import *\nfrom config.extra import *\nfrom .x import y\n"
    assert django_settings.star_imports(text, "config.django.production") == [
        "config.django.base", "config.common", "config.extra"]
    assert django_settings.star_imports("from .base import *\n", "config.settings", is_package=True) == [
        "config.settings.base"]


SETTINGS = '''
import os
from .base import *  # noqa

DEBUG = False
SECRET_KEY: str = os.environ["SECRET_KEY"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3", "TIME_ZONE": "UTC"}}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"].update({"CONN_MAX_AGE": 60}, CONN_HEALTH_CHECKS=True)
MIDDLEWARE += ["shop.middleware.Timing"]
if os.environ.get("SENTRY_DSN"):
    SENTRY = True
try:
    from .local import *  # noqa
except ImportError:
    LOCAL = False


def helper():
    HIDDEN = 1
'''


def test_the_settings_a_module_assigns_and_its_database_keys():
    assert django_settings.assigned_settings(SETTINGS) == ["DEBUG", "SECRET_KEY", "DATABASES", "MIDDLEWARE",
                                                           "SENTRY", "LOCAL"]
    assert django_settings.database_keys(SETTINGS) == ["ENGINE", "NAME", "TIME_ZONE", "ATOMIC_REQUESTS",
                                                       "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"]


def test_settings_that_read_their_own_value_extend_it():
    text = ('MIDDLEWARE = ["a", *MIDDLEWARE]\nDATABASES = f(globals().get("DATABASES", {}))\n'
            'DEBUG = get_bool("DEBUG", False)\n')
    assert django_settings.self_referencing(text) == ["MIDDLEWARE", "DATABASES"]


CONNECTION = {"ENGINE": "django.db.backends.postgresql", "NAME": "shop", "USER": "shop", "PASSWORD": "pw",
              "HOST": "postgres", "PORT": 5432, "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True,
              "OPTIONS": {"connect_timeout": 3}}


def test_the_connection_replaces_sqlite_and_its_options_and_the_rest_stays():
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3", "ATOMIC_REQUESTS": True,
                             "CONN_MAX_AGE": 120, "OPTIONS": {"timeout": 20}, "TEST": {"NAME": "test_shop"}},
                 "analytics": {"ENGINE": "django.db.backends.sqlite3", "NAME": "analytics.sqlite3"}}
    merged = load_databases().with_connection(databases, CONNECTION)
    assert merged == {"default": {**CONNECTION, "ATOMIC_REQUESTS": True, "CONN_MAX_AGE": 120,
                                  "TEST": {"NAME": "test_shop"}},
                      "analytics": databases["analytics"]}
    assert databases["default"]["ENGINE"] == "django.db.backends.sqlite3"  # the project's dict is not changed


def test_a_postgresql_entry_keeps_its_engine_and_its_options_over_the_connections():
    databases = {"default": {"ENGINE": "django.contrib.gis.db.backends.postgis", "NAME": "old",
                             "OPTIONS": {"sslmode": "require", "connect_timeout": 10}}}
    merged = load_databases().with_connection(databases, CONNECTION)["default"]
    assert (merged["ENGINE"], merged["NAME"], merged["OPTIONS"]) == (
        "django.contrib.gis.db.backends.postgis", "shop", {"connect_timeout": 10, "sslmode": "require"})


def test_no_databases_of_the_projects_gives_the_connection_alone():
    assert load_databases().with_connection({}, CONNECTION) == {"default": CONNECTION}


@pytest.mark.parametrize("files, written, where", [
    ({".python-version": "3.12.4\n", "runtime.txt": "python-3.11\n"}, "3.12.4", ".python-version"),
    ({"runtime.txt": "python-3.11.9"}, "python-3.11.9", "runtime.txt"),
    ({"pyproject.toml": '[project]\nrequires-python = ">=3.11"\n'}, ">=3.11", "pyproject.toml requires-python"),
    ({"Pipfile": '[requires]\npython_version = "3.13"\n'}, "3.13", "Pipfile [requires]"),
])
def test_the_python_a_project_asks_for(files, written, where):
    request = python_version.python_request(files)
    assert (request.written, request.where) == (written, where)


@pytest.mark.parametrize("files, matches", [
    ({".python-version": "3.13\n"}, True),
    ({".python-version": "3.13.7\n"}, True),
    ({".python-version": "3.12\n"}, False),
    ({"pyproject.toml": '[project]\nrequires-python = ">=3.13.2"\n'}, True),
    ({"pyproject.toml": '[project]\nrequires-python = "~=3.12.0"\n'}, False),
])
def test_the_images_minor_version_matches_or_not(files, matches):
    assert python_version.matches(python_version.python_request(files), "3.13") is matches


def test_a_project_that_names_no_python_is_not_warned():
    assert python_version.python_request({".python-version": "system\n"}) is None
    assert python_version.mismatch_warning(None, "3.13", "python:3.13-slim") is None


# --------------------------------------------------------------------------- request logging
STRUCTLOG_SETTINGS = '''
import structlog
from .base import *  # noqa

INSTALLED_APPS += ["django_structlog"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
]
structlog.configure(processors=[structlog.processors.JSONRenderer()])
'''
OWN_LOGGER_SETTINGS = '''
DEBUG = False
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
if not DEBUG:
    MIDDLEWARE.insert(0, "shop.middleware.AccessLogMiddleware")
'''
NO_REQUEST_LOG_SETTINGS = '''
MIDDLEWARE = [
    "shop.onehost.logs.RequestLogMiddleware",  # onehost's own, from an earlier init
    "django.middleware.security.SecurityMiddleware",
    "shop.middleware.TimezoneMiddleware",
]
INSTALLED_APPS = ["django.contrib.admin", "shop.logbook"]
# django.request logs only 4xx/5xx answers: not a line per request.
LOGGING = {"version": 1, "loggers": {"django.request": {"handlers": ["mail_admins"], "level": "ERROR"}}}
'''


def test_django_structlogs_middleware_is_found_and_reads_the_request_id_itself():
    assert request_logging.request_loggers("config.settings.production", STRUCTLOG_SETTINGS) == [
        request_logging.RequestLogger("django_structlog.middlewares.RequestMiddleware", "django-structlog", "reads",
                                      "config.settings.production")]


def test_django_structlog_named_by_its_settings_alone_is_found():
    assert request_logging.request_loggers("config.settings", 'INSTALLED_APPS = ["django_structlog"]\n') == [
        request_logging.RequestLogger("django_structlog", "django-structlog", "reads", "config.settings")]


def test_a_middleware_of_the_projects_own_named_like_a_logger_is_found():
    assert request_logging.request_loggers("shop.settings", OWN_LOGGER_SETTINGS) == [
        request_logging.RequestLogger("shop.middleware.AccessLogMiddleware", None, None, "shop.settings")]


def test_settings_without_request_logging_find_none():
    assert request_logging.request_loggers("shop.settings", NO_REQUEST_LOG_SETTINGS) == []


def test_request_id_middlewares_are_pointed_at_nginxs_header():
    loggers = request_logging.project_request_loggers([
        ("config.settings.base", 'MIDDLEWARE = ["django_guid.middleware.guid_middleware"]\n'),
        ("config.settings.production", 'MIDDLEWARE += ["log_request_id.middleware.RequestIDMiddleware"]\n'),
    ])
    assert request_logging.id_settings(loggers) == ["DJANGO_GUID", "LOG_REQUEST_ID_HEADER"]
