"""The app's structured logs on a real host: one JSON line per request that carries nginx's
request id, and a PostgreSQL outage logged with the event the stack's metric filter counts,
in the form the CloudWatch agent ships (Docker's json-file lines)."""

import json
import uuid

from onehost.local.instance import wait_until
from tests.tools import database_filter_pattern

NGINX = "edge-nginx-1"
POSTGRES = "data-postgres-1"


def filter_term() -> str:
    """The stack's DatabaseConnectionFailuresFilter pattern, a single quoted term, unquoted."""
    pattern = database_filter_pattern()
    assert pattern.startswith('"') and pattern.endswith('"') and pattern.count('"') == 2, pattern
    return pattern.strip('"')


def nginx_request_id(instance, marker: str) -> str:
    """The request id nginx logged (and sent upstream as X-Request-ID) for the request whose URI has `marker`."""
    def logged():
        output = instance.inner("docker", "logs", "--tail", "1000", NGINX).stdout
        return next((json.loads(line)["request_id"] for line in output.splitlines() if marker in line), None)
    return wait_until(logged, f"nginx's access log line for {marker}", 20)


def json_file_lines(instance, container: str) -> list[str]:
    """The container's log as Docker stores it on disk: what the CloudWatch agent reads and ships."""
    path = instance.inner("docker", "inspect", "--format", "{{.LogPath}}", container).stdout.strip()
    return instance.inner("tail", "--lines", "3000", path).stdout.splitlines()


def app_lines(instance, container: str) -> list[tuple[str, dict]]:
    """(raw json-file line, the app's JSON line inside it) for each app line on stdout."""
    found = []
    for raw in json_file_lines(instance, container):
        wrapper = json.loads(raw)
        if wrapper["stream"] == "stdout" and wrapper["log"].startswith("{"):
            found.append((raw, json.loads(wrapper["log"])))
    return found


def app_line_of(instance, container: str, request_id: str, **fields) -> tuple[str, dict]:
    def logged():
        return next(((raw, line) for raw, line in app_lines(instance, container)
                     if line.get("request_id") == request_id
                     and all(line.get(key) == value for key, value in fields.items())), None)
    return wait_until(logged, f"the app's line for request {request_id} with {fields}", 20)


def test_the_apps_request_line_carries_nginxs_request_id(test_instance, deployed):
    marker = uuid.uuid4().hex
    status, created = test_instance.request("POST", f"/api/events/?log-check={marker}", {
        "title": f"Logged {marker}", "happened_at": "2026-11-25T12:00:00Z"})
    assert status == 201, created
    app = test_instance.live_container()
    request_id = nginx_request_id(test_instance, marker)
    assert len(request_id) == 32

    raw, line = app_line_of(test_instance, app, request_id, logger="timewarp.logs.requests")
    assert (line["level"], line["method"], line["path"], line["status"]) == ("INFO", "POST", "/api/events/", 201)
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
    assert line["time"].endswith("Z") and "event" not in line
    # The app's line replaces gunicorn's access log, and query strings stay out of the app's log.
    output = test_instance.inner("docker", "logs", "--tail", "3000", app)
    assert marker not in output.stdout + output.stderr


def test_a_database_outage_is_logged_with_the_event_the_alarm_counts(test_instance, deployed):
    term = filter_term()
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "Written before the outage", "happened_at": "2026-11-25T12:00:00Z"})
    assert status == 201, created
    app = test_instance.live_container()

    test_instance.inner("docker", "stop", POSTGRES)
    try:
        def answers_503():
            marker = uuid.uuid4().hex
            status, _ = test_instance.get(f"/health/?outage={marker}", timeout=15)
            return marker if status == 503 else None
        marker = wait_until(answers_503, "/health/ to answer 503 with PostgreSQL stopped", 60)
        request_id = nginx_request_id(test_instance, marker)
        raw, line = app_line_of(test_instance, app, request_id, event="database_connection_failed")
    finally:
        test_instance.inner("docker", "start", POSTGRES)
        test_instance.wait_for_health(timeout=120)

    assert (line["level"], line["logger"], line["path"]) == ("ERROR", "timewarp.health", "/health/")
    assert line["message"].startswith("database connection failed: ")
    # What the agent ships is the wrapped line; the metric filter's plain term is in it, once.
    assert json.loads(raw)["log"] == json.dumps(line) + "\n"
    assert raw.count(term) == 1
    # The request's other lines (Django's 503 line) do not count a second time.
    same_request = [raw for raw, each in app_lines(test_instance, app) if each.get("request_id") == request_id]
    assert len(same_request) >= 2 and sum(term in each for each in same_request) == 1

    # Nothing lost: the row written before the outage is served after it.
    status, fetched = test_instance.get(f"/api/events/{created['id']}/")
    assert status == 200 and fetched["title"] == "Written before the outage"
