"""The health endpoint, answered by a middleware placed first in MIDDLEWARE.

Probes call it by 127.0.0.1 or a container name, which ALLOWED_HOSTS rightly
rejects; answering here, before anything calls request.get_host(), keeps the
host check strict for every other path.
"""
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse

from .logs import log_database_connection_failure

HEALTH_PATH = "/health/"

logger = logging.getLogger(__name__)


def health_response() -> JsonResponse:
    version = settings.APP_VERSION
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        # Logged with the event the database alarm counts (this probe runs every few seconds).
        log_database_connection_failure(error, logger, path=HEALTH_PATH)
        return JsonResponse({"status": "error", "database": "unreachable", "version": version}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "version": version})


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == HEALTH_PATH:
            return health_response()
        return self.get_response(request)
