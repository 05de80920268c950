"""Whether a Django project already logs each request its own way, read from its settings modules'
source (nothing is imported), so `onehost init` does not add a second line per request.

Found by: a MIDDLEWARE entry of a request-logging package (django-structlog, django-guid,
django-request-logging, django-log-request-id) or of the project's own whose class is named like a
request logger (RequestLoggingMiddleware, AccessLogMiddleware); or django-structlog in
INSTALLED_APPS or its DJANGO_STRUCTLOG_* settings. A LOGGING config alone is not counted: Django's
`django.request` logs only 4xx and 5xx answers and `django.server` only runserver's
(https://docs.djangoproject.com/en/5.2/ref/logging/#django-request), so neither is a line per
request under gunicorn.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from onehost.commands.django_settings import assignment_targets

# The module path prefix of each package's middleware, its name, and how it gets nginx's request
# id (the X-Request-ID header): "reads" it itself, or a setting of the production module points it there.
PACKAGES = {
    # django_structlog/middlewares/request.py: request_id = request.headers.get("x-request-id") or uuid4().
    "django_structlog.": ("django-structlog", "reads"),
    # django_guid/config.py: the header is DJANGO_GUID["GUID_HEADER_NAME"] (default Correlation-ID).
    "django_guid.": ("django-guid", "DJANGO_GUID"),
    # log_request_id/middleware.py: the id is request.META[LOG_REQUEST_ID_HEADER] when that is set.
    "log_request_id.": ("django-log-request-id", "LOG_REQUEST_ID_HEADER"),
    # request_logging/middleware.py logs requests and responses; it has no request id of its own.
    "request_logging.": ("django-request-logging", None),
}
STRUCTLOG_APP = "django_structlog"
STRUCTLOG_SETTING_PREFIX = "DJANGO_STRUCTLOG_"
# A project's own middleware class named like a request or access logger.
LOGGER_NAMED = re.compile(r"(request|access)\w*log|log\w*(request|access)", re.IGNORECASE)
# onehost's own middleware (a settings module init wrote earlier): not the project's.
ONEHOST_MIDDLEWARE = ".onehost.logs.RequestLogMiddleware"


@dataclass(frozen=True)
class RequestLogger:
    name: str                 # the middleware path, or the setting that names the package
    package: str | None       # a known package's name; None for the project's own middleware
    request_id: str | None    # "reads", the setting init points at X-Request-ID, or None
    where: str                # the settings module that names it

    def describe(self) -> str:
        return f"{self.name} ({self.package}, in {self.where})" if self.package else f"{self.name} (in {self.where})"


def _statements_setting(tree: ast.Module, name: str):
    """Statements that assign or change `name` (=, +=, .append(...), .insert(...)), also inside
    if/try blocks (settings often branch on DEBUG or on an optional import)."""
    for node in ast.walk(tree):
        if any(isinstance(target, ast.Name) and target.id == name for target in assignment_targets(node)):
            yield node


def _strings_in(node: ast.AST) -> list[str]:
    return [child.value for child in ast.walk(node) if isinstance(child, ast.Constant) and isinstance(child.value, str)]


def _known_package(path: str) -> tuple[str, str | None] | None:
    return next((found for prefix, found in PACKAGES.items() if path.startswith(prefix)), None)


def request_loggers(module: str, text: str) -> list[RequestLogger]:
    """What in one settings module logs each request (or gives requests their ids) its own way."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found: list[RequestLogger] = []
    for node in _statements_setting(tree, "MIDDLEWARE"):
        for path in _strings_in(node):
            known = _known_package(path)
            if known:
                found.append(RequestLogger(path, known[0], known[1], module))
            elif "." in path and not path.endswith(ONEHOST_MIDDLEWARE) \
                    and LOGGER_NAMED.search(path.rpartition(".")[2]):
                found.append(RequestLogger(path, None, None, module))
    structlog_named = any(STRUCTLOG_APP in _strings_in(node) for node in _statements_setting(tree, "INSTALLED_APPS"))
    structlog_named = structlog_named or any(
        isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(target, ast.Name) and target.id.startswith(STRUCTLOG_SETTING_PREFIX)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]))
        for node in ast.walk(tree))
    if structlog_named and not any(logger.package == PACKAGES["django_structlog."][0] for logger in found):
        found.append(RequestLogger(STRUCTLOG_APP, PACKAGES["django_structlog."][0], "reads", module))
    return found


def project_request_loggers(modules: list[tuple[str, str]]) -> list[RequestLogger]:
    """Over a settings chain, (module, source) pairs: every request logger found, each name once."""
    found: dict[str, RequestLogger] = {}
    for module, text in modules:
        for logger in request_loggers(module, text):
            found.setdefault(logger.name, logger)
    return list(found.values())


def id_settings(loggers: list[RequestLogger]) -> list[str]:
    """The settings the production module sets so the project's loggers read nginx's X-Request-ID."""
    return sorted({logger.request_id for logger in loggers if logger.request_id not in (None, "reads")})


def decision(module: str, loggers: list[RequestLogger]) -> str:
    """What init does about request logging, in words (printed by init and init --dry)."""
    if not loggers:
        return f"{module} puts onehost's request log and /health/ in front of the project's MIDDLEWARE"
    named = ", ".join(logger.describe() for logger in loggers)
    reads = [logger.package for logger in loggers if logger.request_id == "reads"]
    points = [f"{logger.package} (through {logger.request_id})" for logger in loggers
              if logger.request_id not in (None, "reads")]
    others = [logger.name for logger in loggers if logger.request_id is None]
    ids = []
    if reads:
        ids.append(f"{', '.join(dict.fromkeys(reads))} reads it itself")
    if points:
        ids.append(f"{module} points {', '.join(dict.fromkeys(points))} at it")
    if others:
        ids.append(f"make {', '.join(others)} read it to log the same id")
    return (f"{module} puts only /health/ in front of the project's MIDDLEWARE: the project logs each request "
            f"itself ({named}), so onehost's request log is left out (one line per request); the project's "
            f"LOGGING stays. nginx sends its request id as X-Request-ID: {'; '.join(ids)}")
