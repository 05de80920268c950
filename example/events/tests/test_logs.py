import ast
import io
import json
import logging
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from django.db import IntegrityError, OperationalError, connection
from django.http import JsonResponse
from django.test import Client, SimpleTestCase, TestCase, override_settings
from django.urls import path
from timewarp import logs

view_logger = logging.getLogger("events.tests.view")


def view_that_logs(request):
    view_logger.warning("inside the view")
    return JsonResponse({"ok": True}, status=201)


urlpatterns = [path("logs-test/", view_that_logs)]


@contextmanager
def json_lines(level=logging.INFO):
    """Every line the app logs meanwhile, as the production handler writes it (the test
    settings log only CRITICAL); yields a function that returns them parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    loggers = [logging.getLogger(), logging.getLogger("django")]
    saved = [(each.handlers, each.level) for each in loggers]
    for each in loggers:
        each.handlers = [handler]
        each.setLevel(level)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        for each, (handlers, old_level) in zip(loggers, saved, strict=False):
            each.handlers = handlers
            each.setLevel(old_level)


def raw_output_count(lines, word):
    return sum(word in json.dumps(line) for line in lines)


class FormatterTests(SimpleTestCase):
    def record(self, message="hello %s", args=("world",), exc_info=None, **extra):
        record = logging.LogRecord("some.logger", logging.WARNING, __file__, 1, message, args, exc_info)
        record.created = 1767225600.25  # 2026-01-01T00:00:00.250Z
        record.__dict__.update(extra)
        return record

    def test_time_level_logger_and_message(self):
        line = logs.JsonFormatter().format(self.record())
        self.assertEqual(json.loads(line), {"time": "2026-01-01T00:00:00.250Z", "level": "WARNING",
                                            "logger": "some.logger", "message": "hello world"})

    def test_request_fields_and_event_when_given(self):
        line = json.loads(logs.JsonFormatter().format(self.record(
            request_id="abc", method="GET", path="/x/", status=200, duration_ms=1.5, event="something_happened",
            unrelated="left out")))
        self.assertEqual(list(line)[4:], ["request_id", "method", "path", "status", "duration_ms", "event"])
        self.assertEqual((line["status"], line["duration_ms"], line["event"]), (200, 1.5, "something_happened"))
        self.assertNotIn("unrelated", line)

    def test_exception_and_newlines_stay_on_one_line(self):
        try:
            raise OperationalError("connection to server at \"db\" failed\nIs the server running?")
        except OperationalError:
            record = self.record("first\nsecond", (), exc_info=sys.exc_info())
        line = logs.JsonFormatter().format(record)
        self.assertEqual(len(line.splitlines()), 1)
        parsed = json.loads(line)
        self.assertEqual(parsed["message"], "first\nsecond")
        self.assertIn("Traceback", parsed["exception"])
        self.assertIn("Is the server running?", parsed["exception"])

    def test_no_request_id_outside_a_request(self):
        self.assertNotIn("request_id", json.loads(logs.JsonFormatter().format(self.record())))

    def test_settings_log_json_to_stdout(self):
        config = logs.logging_config("INFO")
        self.assertIs(config["formatters"]["json"]["()"], logs.JsonFormatter)
        self.assertEqual(config["handlers"]["stdout"]["stream"], "ext://sys.stdout")


class RequestIdTests(SimpleTestCase):
    def test_well_formed_ids_are_kept(self):
        for value in ("0f" * 16, "Root=1-67891233-abcdef012345678912345678", "a.b_c:d"):
            with self.subTest(value=value):
                self.assertEqual(logs.request_id_from(value), value)

    def test_missing_or_malformed_ids_are_replaced(self):
        for value in (None, "", "has space", 'quote"', "x" * 129, "line\nbreak"):
            with self.subTest(value=value):
                self.assertRegex(logs.request_id_from(value), r"^[0-9a-f]{32}$")


@override_settings(ROOT_URLCONF=__name__)
class RequestLineTests(TestCase):
    def test_the_proxys_request_id_is_on_every_line_of_the_request(self):
        with json_lines() as lines:
            response = self.client.get("/logs-test/", headers={"X-Request-ID": "nginx-id-123"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.headers["X-Request-ID"], "nginx-id-123")
        inside, request_line = lines()
        self.assertEqual((inside["logger"], inside["message"]), ("events.tests.view", "inside the view"))
        self.assertEqual(inside["request_id"], "nginx-id-123")
        self.assertEqual(request_line["request_id"], "nginx-id-123")

    def test_one_line_per_request_with_status_and_duration(self):
        with json_lines() as lines:
            self.client.get("/logs-test/")
        [request_line] = [line for line in lines() if line["logger"] == "timewarp.logs.requests"]
        self.assertEqual(request_line["level"], "INFO")
        self.assertEqual(request_line["message"], "GET /logs-test/ 201")
        self.assertEqual((request_line["method"], request_line["path"], request_line["status"]),
                         ("GET", "/logs-test/", 201))
        self.assertIsInstance(request_line["duration_ms"], float)
        self.assertGreaterEqual(request_line["duration_ms"], 0)
        self.assertNotIn("event", request_line)

    def test_a_request_without_an_id_gets_a_new_one(self):
        with json_lines() as lines:
            first = self.client.get("/logs-test/")
            second = self.client.get("/logs-test/", headers={"X-Request-ID": "not a valid id"})
        ids = [line["request_id"] for line in lines()]
        self.assertEqual(len(ids), 4)
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(ids[2], ids[3])
        self.assertNotEqual(ids[0], ids[2])
        for request_id, response in zip(ids[::2], (first, second), strict=False):
            self.assertRegex(request_id, r"^[0-9a-f]{32}$")
            self.assertEqual(response.headers["X-Request-ID"], request_id)

    def test_djangos_own_lines_carry_the_request(self):
        with json_lines() as lines:
            self.client.get("/nowhere/", headers={"X-Request-ID": "id-404"})
        [not_found] = [line for line in lines() if line["logger"] == "django.request"]
        self.assertEqual((not_found["request_id"], not_found["path"], not_found["status"]),
                         ("id-404", "/nowhere/", 404))

    def test_health_probes_are_logged_at_debug_only(self):
        with json_lines(logging.INFO) as lines:
            self.assertEqual(self.client.get("/health/").status_code, 200)
        self.assertEqual(lines(), [])
        with json_lines(logging.DEBUG) as lines:
            self.client.get("/health/")
        [probe] = [line for line in lines() if line["logger"] == "timewarp.logs.requests"]
        self.assertEqual((probe["level"], probe["status"]), ("DEBUG", 200))


class DatabaseConnectionFailureTests(TestCase):
    """Each failure gives exactly one line with the event name the log metric filter counts."""

    def test_a_view_that_loses_the_database(self):
        client = Client(raise_request_exception=False)
        with json_lines() as lines, mock.patch.object(
                connection, "cursor", side_effect=OperationalError("connection to server at \"db\" failed")):
            response = client.get("/api/events/", headers={"X-Request-ID": "id-db-down"})
        self.assertEqual(response.status_code, 500)  # Django's usual answer to an exception
        logged = lines()
        self.assertEqual(raw_output_count(logged, logs.DATABASE_CONNECTION_FAILED), 1)
        [failure] = [line for line in logged if line.get("event") == logs.DATABASE_CONNECTION_FAILED]
        self.assertEqual(failure["level"], "ERROR")
        self.assertEqual(failure["message"], "database connection failed: connection to server at \"db\" failed")
        self.assertEqual((failure["request_id"], failure["method"], failure["path"]),
                         ("id-db-down", "GET", "/api/events/"))
        # Django's traceback line and the request line are there too, without the event.
        traceback = next(line for line in logged if line["logger"] == "django.request")
        self.assertEqual((traceback["status"], traceback["request_id"]), (500, "id-db-down"))
        self.assertIn("OperationalError", traceback["exception"])
        request_line = next(line for line in logged if line["logger"] == "timewarp.logs.requests")
        self.assertEqual(request_line["status"], 500)

    def test_other_database_errors_are_not_counted(self):
        client = Client(raise_request_exception=False)
        with json_lines() as lines, mock.patch.object(connection, "cursor", side_effect=IntegrityError("dup")):
            self.assertEqual(client.get("/api/events/").status_code, 500)
        self.assertEqual(raw_output_count(lines(), logs.DATABASE_CONNECTION_FAILED), 0)

    def test_the_health_check_when_the_database_is_unreachable(self):
        with json_lines() as lines, mock.patch.object(connection, "cursor",
                                                      side_effect=OperationalError("connection refused")):
            response = self.client.get("/health/", headers={"X-Request-ID": "id-probe"})
        self.assertEqual(response.status_code, 503)
        logged = lines()
        self.assertEqual(raw_output_count(logged, logs.DATABASE_CONNECTION_FAILED), 1)
        [failure] = [line for line in logged if line.get("event") == logs.DATABASE_CONNECTION_FAILED]
        self.assertEqual((failure["logger"], failure["level"], failure["request_id"], failure["path"]),
                         ("timewarp.health", "ERROR", "id-probe", "/health/"))


class GenericModuleTests(SimpleTestCase):
    """logs.py is copied as it is into other Django projects: the standard library and Django only."""

    def test_imports_only_the_standard_library_and_django(self):
        source = Path(logs.__file__).read_text()
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                self.assertEqual(node.level, 0, "no relative imports")
                imported.add(node.module.split(".")[0])
        self.assertLessEqual(imported - {"django"}, set(sys.stdlib_module_names))
        self.assertIsNone(re.search(r"timewarp|time warp|events\.", source, re.IGNORECASE))
