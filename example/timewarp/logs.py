"""Structured logs: one JSON object a line on stdout, one line per request, a stable event name
for database connection failures.

Settings:

    LOGGING = logs.logging_config("INFO")
    MIDDLEWARE = ["<package>.logs.RequestLogMiddleware", ...]  # first, so it times everything
    REQUEST_LOG_QUIET_PATHS = ["/health/"]  # optional: paths whose request lines are DEBUG only

Every line carries time (UTC), level, logger and message; lines logged while a request is
handled also carry its request_id (from the X-Request-ID header the proxy sets, or a new one),
and the request's own line adds method, path, status and duration_ms. A line logged with
`extra={"event": ...}` carries that event: log metric filters count it by that one word.

Imports nothing but the standard library and Django, so it can sit in any Django project.
"""
import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError

# The word the log metric filter counts: keep it stable, alarms depend on it.
DATABASE_CONNECTION_FAILED = "database_connection_failed"
REQUEST_ID_HEADER = "X-Request-ID"
# Paths polled every few seconds (the container health check, the deploy, monitors): their
# request lines are logged at DEBUG. A failing health check still logs its own error line.
DEFAULT_QUIET_PATHS = ("/health/",)

# A proxy's request id is used as it is when it looks like one (nginx sends 32 hex digits);
# anything else (too long, spaces, quotes, control characters) is replaced by a new id.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
# The request being handled, so every line logged meanwhile can carry its id.
_current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Keys of a line, in the order they are written; the rest of a record's attributes are left out.
_REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "event")

logger = logging.getLogger(__name__)
request_logger = logging.getLogger(f"{__name__}.requests")


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return _current_request_id.get()


def request_id_from(header_value: str | None) -> str:
    """The proxy's request id when it is well formed, else a new one (32 hex digits, like nginx's)."""
    if header_value and _REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object a line: newlines in messages and tracebacks are escaped, never written."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_request_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def _request_fields(record: logging.LogRecord) -> dict:
    fields = {name: getattr(record, name) for name in _REQUEST_FIELDS if getattr(record, name, None) is not None}
    # django.request and django.security put the request and status_code on their records;
    # django.request logs some answers (404s, 503s) after the middleware has returned.
    request = getattr(record, "request", None)
    if request is not None and hasattr(request, "META"):
        fields.setdefault("request_id", getattr(request, "request_id", None))
        fields.setdefault("method", getattr(request, "method", None))
        fields.setdefault("path", getattr(request, "path", None))
    if getattr(record, "status_code", None) is not None:
        fields.setdefault("status", record.status_code)
    if fields.get("request_id") is None:
        fields["request_id"] = current_request_id()
    return {name: fields[name] for name in _REQUEST_FIELDS if fields.get(name) is not None}


def log_database_connection_failure(error: BaseException, log: logging.Logger = logger, **fields) -> None:
    """One ERROR line with the event the alarm counts; no traceback, the error's text says what failed."""
    log.error("database connection failed: %s", str(error).strip(),
              extra={**fields, "event": DATABASE_CONNECTION_FAILED})


class RequestLogMiddleware:
    """Gives each request an id (X-Request-ID, or a new one), logs one line per request with its
    status and duration, and logs a database connection failure raised by a view with the event
    name. The view's exception is left to Django, which answers 500 and logs the traceback."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.quiet_paths = frozenset(getattr(settings, "REQUEST_LOG_QUIET_PATHS", DEFAULT_QUIET_PATHS))

    def __call__(self, request):
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = _current_request_id.set(request.request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            response.headers.setdefault(REQUEST_ID_HEADER, request.request_id)
            level = logging.DEBUG if request.path_info in self.quiet_paths else logging.INFO
            request_logger.log(level, "%s %s %s", request.method, request.path, response.status_code, extra={
                "method": request.method, "path": request.path,
                "status": response.status_code, "duration_ms": duration_ms,
            })
            return response
        finally:
            _current_request_id.reset(token)

    def process_exception(self, request, exception):
        # OperationalError: the server cannot be reached or dropped the connection;
        # InterfaceError: the connection was already closed. Other database errors are bugs.
        if isinstance(exception, (OperationalError, InterfaceError)):
            log_database_connection_failure(exception, method=request.method, path=request.path)
        return None  # Django's own handling goes on: a 500, and django.request's traceback line


def logging_config(level: str) -> dict:
    """LOGGING for settings: every logger to stdout as JSON lines, where Docker collects them."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"},
        },
        "root": {"handlers": ["stdout"], "level": level},
        # Replace Django's own handlers (stderr only when DEBUG, mail to admins).
        "loggers": {"django": {"handlers": ["stdout"], "level": level, "propagate": False}},
    }
