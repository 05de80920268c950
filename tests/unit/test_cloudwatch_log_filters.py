"""What the CloudWatch agent ships of the host's logs: the containers' stream keeps errors, 5xx
answers, a sample of requests and every line a metric filter of the stack counts; real log
lines are judged the way the agent judges them (onehost/commands/cloudwatch_config.py agent_publishes,
after amazon-cloudwatch-agent plugins/inputs/logfile/logfilter.go)."""

import copy
import json
import re
import runpy

import pytest

from onehost.commands import cloudwatch_config
from onehost.paths import REPO_ROOT
from tests.tools import stack_template

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
CONTAINERS = "/var/lib/docker/containers/*/*-json.log"


def docker_line(text: str, stream: str, time: str) -> str:
    """The json-file driver's line for one line a container wrote: compact JSON, the line with
    its newline as "log" (moby daemon/logger/jsonfilelog/jsonlog/jsonlogbytes.go). Go also
    escapes <, > and &, which none of these lines holds."""
    return json.dumps({"log": text + "\n", "stream": stream, "time": time}, separators=(",", ":"))


# Real lines, taken from a deployed local instance (bench/log_ingestion.py's requests, then the
# app and PostgreSQL stopped, a burst past the rate limit, a gunicorn worker killed, and the
# renewal script run to fail), as the files the agent reads hold them.
NGINX_200 = docker_line(
    r'{"time":"2026-12-06T09:28:58+00:00","request_id":"15d4511251ddd81461e31acd57ddb57b","remot'
    r'e_addr":"172.17.0.1","host":"127.0.0.1","method":"GET","uri":"/api/events/142/","protocol"'
    r':"HTTP/1.1","status":200,"status_class":"ok","request_time":0.005,"upstream_status":"200",'
    r'"upstream_response_time":"0.006","bytes":184,"referer":"https://app.example.com/events","u'
    r'ser_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101'
    r' Firefox/128.0"}',
    "stdout", "2026-12-06T09:28:58.512391039Z")
NGINX_200_SAMPLED = docker_line(
    r'{"time":"2026-12-06T09:28:58+00:00","request_id":"1ff60b592b6c847cb10c0857c82f5930","remot'
    r'e_addr":"172.17.0.1","host":"127.0.0.1","method":"GET","uri":"/api/events/","protocol":"HT'
    r'TP/1.1","status":200,"status_class":"ok","request_time":0.006,"upstream_status":"200","ups'
    r'tream_response_time":"0.006","bytes":3806,"referer":"https://app.example.com/events","user'
    r'_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101'
    r' Firefox/128.0"}',
    "stdout", "2026-12-06T09:28:58.045945926Z")
NGINX_429 = docker_line(
    r'{"time":"2026-12-06T09:29:54+00:00","request_id":"d2fb7f732b500079cbf833a8350ec29f","remot'
    r'e_addr":"172.17.0.1","host":"127.0.0.1","method":"GET","uri":"/api/events/","protocol":"HT'
    r'TP/1.1","status":429,"status_class":"client_error","request_time":0.000,"upstream_status":'
    r'"","upstream_response_time":"","bytes":46,"referer":"","user_agent":"curl/7.88.1"}',
    "stdout", "2026-12-06T09:29:54.550499967Z")
NGINX_RATE_LIMITED = docker_line(
    r'2026/12/06 09:29:54 [warn] 23#23: *4335 limiting requests, excess: 40.060 by zone "api",'
    r' client: 172.17.0.1, server: localhost, request: "GET /api/events/ HTTP/1.1", host:'
    r' "127.0.0.1:34080"',
    "stderr", "2026-12-06T09:29:54.550169008Z")
NGINX_500 = docker_line(
    r'{"time":"2026-12-06T09:29:15+00:00","request_id":"fba8cd7ad6d634e5ed83863a509bbd86","remot'
    r'e_addr":"172.17.0.1","host":"127.0.0.1","method":"GET","uri":"/api/events/","protocol":"HT'
    r'TP/1.1","status":500,"status_class":"server_error","request_time":0.080,"upstream_status":'
    r'"500","upstream_response_time":"0.080","bytes":145,"referer":"","user_agent":"curl/7.88.1"'
    r'}',
    "stdout", "2026-12-06T09:29:15.910606553Z")
NGINX_504 = docker_line(
    r'{"time":"2026-12-06T09:29:24+00:00","request_id":"c65666c2a20665146885a5b1c0489bf7","remot'
    r'e_addr":"172.17.0.1","host":"127.0.0.1","method":"GET","uri":"/api/events/","protocol":"HT'
    r'TP/1.1","status":504,"status_class":"server_error","request_time":5.012,"upstream_status":'
    r'"504","upstream_response_time":"5.012","bytes":44,"referer":"","user_agent":"curl/8.14.1"}',
    "stdout", "2026-12-06T09:29:24.045791932Z")
NGINX_UPSTREAM_TIMEOUT = docker_line(
    r'2026/12/06 09:29:24 [error] 23#23: *4018 upstream timed out (110: Connection timed out)'
    r' while connecting to upstream, client: 172.17.0.1, server: localhost, request: "GET'
    r' /api/events/ HTTP/1.1", upstream: "http://172.19.0.4:8000/api/events/", host:'
    r' "127.0.0.1:34080"',
    "stderr", "2026-12-06T09:29:24.045745264Z")
APP_200 = docker_line(
    r'{"time": "2026-12-06T09:28:58.510Z", "level": "INFO", "logger": "timewarp.logs.requests",'
    r' "message": "GET /api/events/142/ 200", "request_id": "15d4511251ddd81461e31acd57ddb57b",'
    r' "method": "GET", "path": "/api/events/142/", "status": 200, "duration_ms": 3.2}',
    "stdout", "2026-12-06T09:28:58.511113717Z")
APP_200_SAMPLED = docker_line(
    r'{"time": "2026-12-06T09:28:58.044Z", "level": "INFO", "logger": "timewarp.logs.requests",'
    r' "message": "GET /api/events/ 200", "request_id": "1ff60b592b6c847cb10c0857c82f5930",'
    r' "method": "GET", "path": "/api/events/", "status": 200, "duration_ms": 4.1}',
    "stdout", "2026-12-06T09:28:58.044741931Z")
APP_404 = docker_line(
    r'{"time": "2026-12-06T09:28:56.844Z", "level": "WARNING", "logger": "django.request",'
    r' "message": "Not Found: /api/events/901974/", "request_id":'
    r' "922e29bc073e27789ac0b44542d0c470", "method": "GET", "path": "/api/events/901974/",'
    r' "status": 404}',
    "stdout", "2026-12-06T09:28:56.845135608Z")
APP_500 = docker_line(
    r'{"time": "2026-12-06T09:29:15.908Z", "level": "INFO", "logger": "timewarp.logs.requests",'
    r' "message": "GET /api/events/ 500", "request_id": "fba8cd7ad6d634e5ed83863a509bbd86",'
    r' "method": "GET", "path": "/api/events/", "status": 500, "duration_ms": 77.3}',
    "stdout", "2026-12-06T09:29:15.909649171Z")
APP_503_ERROR = docker_line(
    r'{"time": "2026-12-06T09:29:15.949Z", "level": "ERROR", "logger": "django.request",'
    r' "message": "Service Unavailable: /health/", "request_id":'
    r' "11da06f66c6faa2c6d22314da84743e1", "method": "GET", "path": "/health/", "status": 503}',
    "stdout", "2026-12-06T09:29:15.949476413Z")
DATABASE_FAILURE = docker_line(
    r'{"time": "2026-12-06T09:29:15.948Z", "level": "ERROR", "logger": "timewarp.health",'
    r""" "message": "database connection failed: failed to resolve host 'postgres': [Errno -2]"""
    r' Name or service not known", "request_id": "11da06f66c6faa2c6d22314da84743e1", "path":'
    r' "/health/", "event": "database_connection_failed"}',
    "stdout", "2026-12-06T09:29:15.94911702Z")
GUNICORN_BOOT = docker_line(
    r'[2026-12-06 09:30:06 +0000] [71] [INFO] Booting worker with pid: 71',
    "stderr", "2026-12-06T09:30:06.85940055Z")
GUNICORN_WORKER_KILLED = docker_line(
    r'[2026-12-06 09:30:06 +0000] [1] [ERROR] Worker (pid:8) was sent SIGKILL! Perhaps out of'
    r' memory?',
    "stderr", "2026-12-06T09:30:06.815013819Z")
POSTGRES_CHECKPOINT = docker_line(
    r'2026-12-06 09:26:17.281 UTC [50] LOG:  checkpoint complete: wrote 164 buffers (1.0%); 0'
    r' WAL file(s) added, 0 removed, 0 recycled; write=16.586 s, sync=0.006 s, total=16.607 s;'
    r' sync files=106, longest=0.001 s, average=0.001 s; distance=775 kB, estimate=775 kB;'
    r' lsn=0/19FD590, redo lsn=0/19FD500',
    "stderr", "2026-12-06T09:26:17.282109081Z")
POSTGRES_FATAL = docker_line(
    r'2026-12-06 09:29:15.173 UTC [867] FATAL:  terminating connection due to administrator'
    r' command',
    "stderr", "2026-12-06T09:29:15.175303552Z")
# As the file held it, byte for byte.
NGINX_RATE_LIMITED_IN_THE_FILE = (
    '{"log":"2026/12/06 09:29:54 [warn] 23#23: *4335 limiting requests, excess: 40.060 by zone \\"api\\", client: 172.17.0.1, server: localhost, request: \\"GET /api/events/ HTTP/1.1\\", host: \\"127.0.0.1:34080\\"\\n","stream":"stderr","time":"2026-12-06T09:29:54.550169008Z"}')  # noqa: E501 - the line as logged
CERTIFICATE_RENEWAL_FAILED = (
    "2026-12-06T09:29:27.847036+00:00 onehost-h3 onehost-certbot-renew[7021]: onehost-certbot-renew: "
    "certificate renewal failed; nginx keeps serving the current certificate "
    "(details: /var/log/letsencrypt/letsencrypt.log)")
UNSAMPLED_ID = "15d4511251ddd81461e31acd57ddb57b"    # NGINX_200's and APP_200's

# name -> (the file the line is in, the line, whether the default settings ship it)
LINES = {
    "NGINX_200": (CONTAINERS, NGINX_200, False),
    "APP_200": (CONTAINERS, APP_200, False),
    "NGINX_429": (CONTAINERS, NGINX_429, False),
    "NGINX_RATE_LIMITED": (CONTAINERS, NGINX_RATE_LIMITED, False),
    "GUNICORN_BOOT": (CONTAINERS, GUNICORN_BOOT, False),
    "POSTGRES_CHECKPOINT": (CONTAINERS, POSTGRES_CHECKPOINT, False),
    "NGINX_200_SAMPLED": (CONTAINERS, NGINX_200_SAMPLED, True),
    "APP_200_SAMPLED": (CONTAINERS, APP_200_SAMPLED, True),
    "NGINX_500": (CONTAINERS, NGINX_500, True),
    "NGINX_504": (CONTAINERS, NGINX_504, True),
    "NGINX_UPSTREAM_TIMEOUT": (CONTAINERS, NGINX_UPSTREAM_TIMEOUT, True),
    "APP_404": (CONTAINERS, APP_404, True),
    "APP_500": (CONTAINERS, APP_500, True),
    "APP_503_ERROR": (CONTAINERS, APP_503_ERROR, True),
    "DATABASE_FAILURE": (CONTAINERS, DATABASE_FAILURE, True),
    "GUNICORN_WORKER_KILLED": (CONTAINERS, GUNICORN_WORKER_KILLED, True),
    "POSTGRES_FATAL": (CONTAINERS, POSTGRES_FATAL, True),
    "CERTIFICATE_RENEWAL_FAILED": ("/var/log/syslog", CERTIFICATE_RENEWAL_FAILED, True),
}


def filters_by_file(data=GROUP_DATA) -> dict[str, list[dict]]:
    config = cloudwatch_config.render_from(data)
    return {entry["file_path"]: entry.get("filters", [])
            for entry in config["logs"]["logs_collected"]["files"]["collect_list"]}


def metric_filter_terms() -> dict[str, list[str]]:
    """Each log metric filter of the stack -> the terms a line must hold to be counted.
    Only quoted or bare terms (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/
    FilterAndPatternSyntax.html: case sensitive; "Enclose exact phrases ... in double quotation
    marks"); a JSON, space-delimited or regex pattern needs this test extended."""
    found = {}
    for name, resource in stack_template()["Resources"].items():
        if resource["Type"] != "AWS::Logs::MetricFilter":
            continue
        pattern = resource["Properties"]["FilterPattern"]
        if pattern.strip()[:1] in "{[%":
            pytest.fail(f"{name}: {pattern!r} is not a term pattern: extend metric_filter_terms")
        terms = [quoted or bare.lstrip("?") for quoted, bare in re.findall(r'"([^"]*)"|(\S+)', pattern)]
        found[name] = [term for term in terms if not term.startswith("-")]
    assert found, "the stack declares no log metric filter"
    return found


def test_the_agent_config_is_exactly_this():
    assert cloudwatch_config.render_from(GROUP_DATA)["logs"] == {"logs_collected": {"files": {"collect_list": [
        {"file_path": CONTAINERS, "log_group_name": "/onehost/host",
         "log_stream_name": "{instance_id}/containers", "retention_in_days": 7, "publish_multi_logs": True,
         "filters": [{"type": "include", "expression": (
             r'\b(?:WARNING|ERROR|CRITICAL|FATAL|PANIC)\b'
             r'|\[(?:error|crit|alert|emerg)\]'
             r'|status\\?": ?5[0-9]{2}\b'
             r'|server_error|database_connection_failed|certificate renewal failed'
             r'|request_id\\?": ?\\?"[0-9a-f]{31}0\\?"')}]},
        {"file_path": "/var/log/syslog", "log_group_name": "/onehost/host",
         "log_stream_name": "{instance_id}/syslog", "retention_in_days": 7},
        {"file_path": "/var/log/auth.log", "log_group_name": "/onehost/host",
         "log_stream_name": "{instance_id}/auth", "retention_in_days": 7},
    ]}}}


def test_all_ships_every_line_as_before():
    everything = {**GROUP_DATA, "cloudwatch_container_logs": "all"}
    entries = cloudwatch_config.render_from(everything)["logs"]["logs_collected"]["files"]["collect_list"]
    assert [entry.get("filters") for entry in entries] == [None, None, None]
    assert all(cloudwatch_config.agent_publishes([], line) for _, line, _ in LINES.values())


def test_the_lines_are_dockers_own():
    assert NGINX_RATE_LIMITED == NGINX_RATE_LIMITED_IN_THE_FILE


@pytest.mark.parametrize("path, line, shipped", LINES.values(), ids=LINES.keys())
def test_real_lines_are_shipped_or_kept_on_the_host(path, line, shipped):
    assert cloudwatch_config.agent_publishes(filters_by_file()[path], line) is shipped


def test_every_line_a_metric_filter_counts_is_shipped():
    """Each filter of the stack has a real line here that it counts, and any line holding its
    terms is shipped from every stream (the count needs the line in CloudWatch)."""
    filters = filters_by_file()
    for name, terms in metric_filter_terms().items():
        counted = [(path, line) for path, line, _ in LINES.values() if all(term in line for term in terms)]
        assert counted, f"no line in LINES is counted by {name} ({terms}): add a real one"
        for path, line in counted:
            assert cloudwatch_config.agent_publishes(filters[path], line), (name, line)
        for path, stream_filters in filters.items():
            for term in terms:
                for line in (term, f"x{term}x", docker_line(json.dumps({"message": f"at {term}."}), "stdout", "t")):
                    assert cloudwatch_config.agent_publishes(stream_filters, line), (name, path, line)


@pytest.mark.parametrize("sample, digits", [(1, "[0-9a-f]{32}"), (16, "[0-9a-f]{31}0"),
                                            (256, "[0-9a-f]{30}00"), (4096, "[0-9a-f]{29}000")])
def test_a_request_is_sampled_by_the_last_digits_of_its_id(sample, digits):
    assert cloudwatch_config.request_sample_pattern(sample) == r'request_id\\?": ?\\?"' + digits + r'\\?"'


def test_the_sample_picks_nginx_and_app_lines_of_the_same_requests():
    # 4096 request ids: exactly those ending in 0 (1 in 16) are picked, for both kinds of line.
    [only_sample] = cloudwatch_config.container_log_filters(
        "errors", sample=16, counted_terms=["never-written"])
    picked = {kind: {number for number in range(4096)
                     if cloudwatch_config.agent_publishes([only_sample], line.replace(
                         UNSAMPLED_ID, f"{UNSAMPLED_ID[:28]}{number:04x}"))}
              for kind, line in (("nginx", NGINX_200), ("app", APP_200))}
    assert picked["nginx"] == picked["app"] == {number for number in range(4096) if number % 16 == 0}


def test_no_sample_ships_errors_only():
    data = {**GROUP_DATA, "cloudwatch_request_sample": 0}
    filters = filters_by_file(data)[CONTAINERS]
    assert "request_id" not in filters[0]["expression"]
    assert not cloudwatch_config.agent_publishes(filters, NGINX_200_SAMPLED)
    assert cloudwatch_config.agent_publishes(filters, NGINX_504)


@pytest.mark.parametrize("setting, value, message", [
    ("cloudwatch_request_sample", 10, "cloudwatch_request_sample=10: use 0 (no sample) or a power of 16"),
    ("cloudwatch_container_logs", "some", "cloudwatch_container_logs='some': use one of errors, all"),
    ("cloudwatch_counted_terms", [], "cloudwatch_counted_terms is empty"),
    ("cloudwatch_counted_terms", ["caf\u00e9"], "must be non-empty printable ASCII"),
])
def test_a_wrong_setting_names_the_fix(setting, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cloudwatch_config.render_from({**GROUP_DATA, setting: value})


def test_counted_terms_are_matched_literally():
    expression = cloudwatch_config.literal("a.b (c)|d*")
    assert re.fullmatch(expression, "a.b (c)|d*") and not re.search(expression, "aXb (c)|d")
    assert cloudwatch_config.re2_subset_problem(expression) is None


def test_the_expressions_read_alike_in_go_and_python():
    """The agent compiles filters with Go's regexp (logfilter.go: regexp.Compile); the host's
    checks use Python's re. Only their common subset is used."""
    for filters in filters_by_file().values():
        for log_filter in filters:
            assert cloudwatch_config.re2_subset_problem(log_filter["expression"]) is None


@pytest.mark.parametrize("expression", [r"\d+", r"\s", r"\w", r"end$", r"(?i)error", r"(?=x)",
                                        r"(a)\1", r"(?P<name>a)", r"\Z"])
def test_constructs_the_two_read_differently_are_refused(expression):
    assert cloudwatch_config.re2_subset_problem(expression)


def test_the_agents_filters_all_must_pass():
    include = {"type": "include", "expression": "ERROR"}
    exclude = {"type": "exclude", "expression": "health"}
    assert cloudwatch_config.agent_publishes([include], "an ERROR here")
    assert not cloudwatch_config.agent_publishes([include], "all fine")
    assert not cloudwatch_config.agent_publishes([include, exclude], "ERROR on /health/")
    assert cloudwatch_config.agent_publishes([exclude], "GET /api/")
    assert cloudwatch_config.agent_publishes([], "anything")


def test_the_check_names_a_filter_that_drops_a_counted_line():
    config = cloudwatch_config.render_from(GROUP_DATA)
    containers = config["logs"]["logs_collected"]["files"]["collect_list"][0]
    broken = copy.deepcopy(config)
    broken["logs"]["logs_collected"]["files"]["collect_list"][0]["filters"] = [
        *containers["filters"], {"type": "exclude", "expression": "database"}]
    assert cloudwatch_config.problems_for(broken, GROUP_DATA) == [
        f"log file {CONTAINERS} drops lines holding 'database_connection_failed', which a metric filter counts"]
    broken["logs"]["logs_collected"]["files"]["collect_list"][0]["filters"] = [
        {"type": "include", "expression": r"\d"}]
    assert cloudwatch_config.problems_for(broken, GROUP_DATA) == [
        f"log file {CONTAINERS} has filter '\\\\d': escape \\d may differ between Go's regexp and Python's re"]
    broken["logs"]["logs_collected"]["files"]["collect_list"][0]["filters"] = [{"type": "keep", "expression": "x"}]
    assert cloudwatch_config.problems_for(broken, GROUP_DATA) == [
        f"log file {CONTAINERS} has a filter of type 'keep' (the agent takes include or exclude)"]


def test_filters_for_a_stream_that_is_not_collected_are_refused():
    with pytest.raises(ValueError, match="log filters for journal, which cloudwatch_log_files does not collect"):
        cloudwatch_config.render(namespace="n", log_group="g", retention_days=7, disks=["/"],
                                 log_files={"syslog": "/var/log/syslog"},
                                 log_filters={"journal": [{"type": "include", "expression": "x"}]})
