"""The stack's log alarms count what the host really logs: lines the example app wrote, wrapped
the way Docker's json-file log stores them, and the lines the certificate renewal writes, as
rsyslog puts them in /var/log/syslog (both are what the CloudWatch agent ships), put in a log
group and searched with the template's own filter patterns."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from onehost.paths import REPO_ROOT
from tests.certificates import RENEW_SCRIPT
from tests.tools import database_filter_pattern, stack_template

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
                           'Connection refused\\n\\tIs the server running on that host and '
                           'accepting TCP/IP connections?')
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
                       "time": datetime.now(UTC).isoformat().replace("+00:00", "Z")})


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


def syslog_line(tag: str, message: str) -> str:
    """A journal line as Debian's rsyslog writes it to /var/log/syslog (its default file template,
    RSYSLOG_FileFormat: RFC 3339 time, host, tag, message), the file the agent ships."""
    return f"2026-12-01T12:00:03.512345+00:00 ip-172-31-5-9 {tag}: {message}"


def test_the_renewal_filter_finds_the_failed_renewal_and_nothing_else(aws, tmp_path):
    # The renewal script, its certbot failing, its metric script absent (reported, not fatal).
    (tmp_path / "certbot").write_text("#!/bin/sh\necho 'Failed to renew certificate shop.example.com' >&2\nexit 1\n")
    (tmp_path / "certbot").chmod(0o755)
    result = subprocess.run([str(RENEW_SCRIPT)], capture_output=True, text=True, timeout=30,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin", "LETSENCRYPT_DIR": str(tmp_path),
                                 "EXPIRY_METRIC": str(tmp_path / "absent")})
    assert result.returncode == 1
    renewal = [syslog_line("onehost-certbot-renew[4242]", line) for line in result.stderr.splitlines()]
    others = [syslog_line("systemd[1]", "onehost-certbot-renew.service: Main process exited, code=exited, "
                                        "status=1/FAILURE"),
              syslog_line("systemd[1]", "Starting onehost-certbot-renew.service - Renew the edge's TLS certificates "
                                        "that are due, then reload nginx..."),
              syslog_line("onehost-backup[77]", "onehost-backup: run failed: upload to s3://b refused (AccessDenied)")]
    logs = aws.client("logs")
    group, stream = "/onehost/host", "i-0123456789abcdef0/syslog"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    lines = [*others, *renewal]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": now + number, "message": line} for number, line in enumerate(lines)])
    pattern = stack_template()["Resources"]["CertificateRenewalFailuresFilter"]["Properties"]["FilterPattern"]
    found = [event["message"] for event in logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]]
    assert len(renewal) >= 3   # certbot's line, the missing metric's, the failure line
    assert found == [renewal[-1]]
    assert "onehost-certbot-renew: certificate renewal failed; nginx keeps serving" in found[0]
