"""Reading settings from environment variables, with errors that say how to fix them.

Every helper takes an optional `environ` mapping (os.environ by default) so the
rules can be tested without touching the process environment. An empty value
counts as not set, so `SECRET_KEY=` in an env file is caught like a missing line.
"""
import os
from collections.abc import Mapping
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

WHERE = "in the release env file"
REQUIRED = object()  # default meaning "no default: the variable must be set"

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


def _get(name: str, environ: Mapping | None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(name, "").strip()


def _not_set(name: str, how: str, hint: str | None) -> ImproperlyConfigured:
    message = f"{name} is not set: set {how} {WHERE}"
    return ImproperlyConfigured(f"{message}; {hint}" if hint else message)


def get_str(name, default=REQUIRED, *, hint=None, environ=None):
    value = _get(name, environ)
    if value:
        return value
    if default is REQUIRED:
        raise _not_set(name, name, hint)
    return default


def get_secret(name, default=REQUIRED, *, hint=None, environ=None):
    """A secret from NAME, or from the file named by NAME_FILE (Docker and systemd secrets)."""
    value, path = _get(name, environ), _get(f"{name}_FILE", environ)
    if value and path:
        raise ImproperlyConfigured(f"both {name} and {name}_FILE are set: keep only one of them {WHERE}")
    if path:
        try:
            value = Path(path).read_text().rstrip("\r\n")
        except OSError as error:
            raise ImproperlyConfigured(
                f"{name}_FILE is {path!r}, which cannot be read ({error.strerror}): "
                f"point it at a readable file holding {name}, or set {name} instead"
            ) from None
        if not value:
            raise ImproperlyConfigured(f"{name}_FILE is {path!r}, which is empty: put the value of {name} in it")
        return value
    if value:
        return value
    if default is REQUIRED:
        raise _not_set(name, f"{name} or {name}_FILE", hint)
    return default


def get_bool(name, default, *, environ=None) -> bool:
    value = _get(name, environ).lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name} is {value!r}, which is not a boolean: use true/false, 1/0 or yes/no {WHERE}"
    )


def get_int(name, default, *, environ=None) -> int:
    value = _get(name, environ)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} is {value!r}, which is not a whole number: fix it {WHERE}") from None


def get_list(name, default=REQUIRED, *, hint=None, environ=None) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    items = [item.strip() for item in _get(name, environ).split(",") if item.strip()]
    if items:
        return items
    if default is REQUIRED:
        raise _not_set(name, name, hint)
    return list(default)


def https_origins(hosts) -> list[str]:
    """CSRF_TRUSTED_ORIGINS for the ALLOWED_HOSTS names, as the browser sees them behind nginx's TLS.

    `api.example.com` gives `https://api.example.com`, a subdomain pattern `.example.com`
    gives `https://*.example.com` (which also covers example.com), and `*` gives nothing:
    a wildcard host must not make every origin trusted.
    """
    origins = []
    for host in hosts:
        if host == "*":
            continue
        origin = f"https://*{host}" if host.startswith(".") else f"https://{host}"
        if origin not in origins:
            origins.append(origin)
    return origins


DB_VARIABLES = ("DB_NAME", "DB_USER", "DB_PASSWORD", "DB_PASSWORD_FILE", "DB_HOST", "DB_PORT")
URL_FORM = "postgres://USER:PASSWORD@HOST:5432/NAME"


def database_config(defaults: Mapping | None = None, *, environ=None) -> dict:
    """The `default` database from DATABASE_URL, or else from the DB_* variables.

    `defaults` (keys NAME, USER, PASSWORD, HOST) stand in for DB_* variables that
    are not set; without them (prod) each one is required.
    """
    url = get_secret("DATABASE_URL", None, environ=environ)
    if url:
        also_set = [name for name in DB_VARIABLES if _get(name, environ)]
        if also_set:
            raise ImproperlyConfigured(
                f"both DATABASE_URL and {', '.join(also_set)} are set: use one way or the other {WHERE}"
            )
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except ValueError as error:
            raise ImproperlyConfigured(f"DATABASE_URL is not a database URL ({error}): expected {URL_FORM}") from None
    else:
        defaults = defaults or {}
        hint = f"or set DATABASE_URL={URL_FORM} instead of the DB_* variables"

        def need(name, key, getter=get_str):
            return getter(name, defaults.get(key, REQUIRED), hint=hint, environ=environ)

        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": need("DB_NAME", "NAME"),
            "USER": need("DB_USER", "USER"),
            "PASSWORD": need("DB_PASSWORD", "PASSWORD", get_secret),
            "HOST": need("DB_HOST", "HOST"),
            "PORT": str(get_int("DB_PORT", 5432, environ=environ)),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Fail fast when the server is unreachable, so /health/ answers 503 instead of hanging.
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
    return config
