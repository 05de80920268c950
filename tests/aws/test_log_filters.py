"""The stack's database alarm counts what the app really logs: lines the example app wrote, wrapped
the way Docker's json-file log stores them (which is what the CloudWatch agent ships), put in a
log group and searched with the template's own filter pattern."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

from onehost.paths import REPO_ROOT
from tests.tools import database_filter_pattern

# In the example app: one ordinary request, then a health check that cannot reach PostgreSQL
# (psycopg's words for a stopped server).
APP_SCRIPT = """
import logging.config
from unittest import mock

import django
django.setup()
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client

from timewarp.logs import logging_config

call_command("migrate", verbosity=0)
logging.config.dictConfig(logging_config("INFO"))
client = Client(raise_request_exception=False)
assert client.get("/api/events/", headers={"X-Request-ID": "ordinary-request"}).status_code == 200
refused = OperationalError('connection failed: connection to server at "172.18.0.2", port 5432 failed: '
                           'Connection refused\\n\\tIs the server running on that host and accepting TCP/IP connections?')
with mock.patch.object(connection, "cursor", side_effect=refused):
    assert client.get("/health/", headers={"X-Request-ID": "probe-db-down"}).status_code == 503
"""


def app_log_lines() -> list[str]:
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
               "DJANGO_SETTINGS_MODULE": "timewarp.settings.test"}
    result = subprocess.run([sys.executable, "-c", APP_SCRIPT], cwd=REPO_ROOT / "example", env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def docker_json_file_line(line: str) -> str:
    """A container's stdout line as Docker's json-file log driver writes it."""
    return json.dumps({"log": line + "\n", "stream": "stdout",
                       "time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")})


def test_the_database_filter_finds_the_apps_failure_line_and_nothing_else(aws):
    lines = app_log_lines()
    by_request = {}
    for line in lines:
        by_request.setdefault(json.loads(line).get("request_id"), []).append(line)
    assert set(by_request) == {"ordinary-request", "probe-db-down"}, lines
    [failure] = [line for line in lines if json.loads(line).get("event") == "database_connection_failed"]

    logs = aws.client("logs")
    group, stream = "/onehost/host", "i-0123456789abcdef0/containers"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": now + number, "message": docker_json_file_line(line)} for number, line in enumerate(lines)])

    def matching(pattern):
        events = logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
        return [json.loads(json.loads(event["message"])["log"]) for event in events]

    # Every line arrived (an empty pattern matches all), and the template's pattern finds the one.
    assert len(matching("")) == len(lines) >= 3
    assert matching(database_filter_pattern()) == [json.loads(failure)]
    # The ordinary request's line, the same request's other lines, and Django's own 503 line:
    # none of them counts.
    assert all("database_connection_failed" not in line for line in lines if line != failure)
