"""`onehost logs`: --since and the other options read before anything runs, the commands as exact
argument lists and scripts, the lines filtered and made readable, and the following script run
here by sh against a stand-in `docker` and a stand-in ssh session."""

import fnmatch
import json
import os
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from onehost.cli import main
from onehost.commands import logs
from onehost.commands.live import NO_RELEASE_EXIT, layout_at, no_release_message
from onehost.commands.switch import upstream_line
from onehost.local.instance import wait_until
from onehost.paths import REPO_ROOT
from onehost.remote.session import HostSession

pytestmark = pytest.mark.unit

LAYOUT = layout_at()
APP_LINE = json.dumps({"time": "2026-05-01T09:30:00.123Z", "level": "INFO", "logger": "timewarp.logs.requests",
                       "message": "POST /api/events/ 201", "request_id": "3f2a9c", "method": "POST",
                       "path": "/api/events/", "status": 201, "duration_ms": 12.5})
ERROR_LINE = json.dumps({"time": "2026-05-01T09:30:01.000Z", "level": "ERROR", "logger": "django.request",
                         "message": "Internal Server Error: /api/events/", "request_id": "3f2a9c",
                         "exception": "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: no"})
NGINX_LINE = json.dumps({"time": "2026-05-01T09:30:00+00:00", "request_id": "3f2a9c", "remote_addr": "10.0.0.1",
                         "host": "api.example.com", "method": "POST", "uri": "/api/events/?x=1", "protocol": "HTTP/1.1",
                         "status": 201, "status_class": "ok", "request_time": 0.013, "upstream_status": "201",
                         "upstream_response_time": "0.012", "bytes": 88, "referer": "", "user_agent": "curl/8"})
NGINX_ERROR = ('2026/05/01 09:30:02 [error] 29#29: *7 connect() failed (111: Connection refused) while '
               'connecting to upstream, request: "GET / HTTP/1.1"')


# --- --since -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), (" 5m ", 300)])
def test_since_takes_a_duration(text, seconds):
    since = logs.parse_since(text)
    assert since == logs.Since(seconds_ago=seconds)
    assert (since.for_docker(), since.for_journal()) == (f"{seconds}s", f"-{seconds}s")


@pytest.mark.parametrize("text, epoch", [
    ("2026-05-01T09:30:00Z", 1777627800),
    ("2026-05-01T09:30Z", 1777627800),
    ("2026-05-01 09:30", 1777627800),              # no zone: UTC, as the logs' times are
    ("2026-05-01T11:30:00+02:00", 1777627800),
    ("2026-05-01", 1777593600),
])
def test_since_takes_an_iso_time(text, epoch):
    since = logs.parse_since(text)
    assert since == logs.Since(epoch=epoch)
    assert (since.for_docker(), since.for_journal()) == (str(epoch), f"@{epoch}")


@pytest.mark.parametrize("text", ["soon", "10", "-5m", "0m", "10 m", "1w", "5min", "2026-13-01", ""])
def test_since_refuses_anything_else_saying_what_it_takes(text):
    with pytest.raises(logs.BadInput) as raised:
        logs.parse_since(text)
    assert str(raised.value) == (f"--since {text!r} is neither a duration (30s, 10m, 2h, 1d) nor an ISO time "
                                 "(2026-05-01T09:30Z): give one of those")


# --- the request ---------------------------------------------------------------------------

def test_without_a_window_or_a_filter_the_last_lines():
    assert logs.log_request("app") == logs.LogRequest(kind="app", lines=logs.DEFAULT_LINES)
    assert logs.log_request("edge", since="10m") == logs.LogRequest(kind="edge", since=logs.Since(seconds_ago=600))
    assert logs.log_request("app", filtering=True) == logs.LogRequest(kind="app")   # the whole log is searched
    assert logs.log_request("data", lines=5, follow=True) == logs.LogRequest(kind="data", lines=5, follow=True)
    assert logs.log_request("host", as_json=True).journal_json
    assert not logs.log_request("app", as_json=True).journal_json


@pytest.mark.parametrize("kind, options, message", [
    ("data", {"request_id": "x"}, "--request-id looks in the app's and nginx's lines: use it with `logs app` "
                                  "or `logs edge`, not `logs data`"),
    ("host", {"request_id": "x"}, "--request-id looks in the app's and nginx's lines: use it with `logs app` "
                                  "or `logs edge`, not `logs host`"),
    ("app", {"lines": 0}, "--lines 0: give a number of lines of 1 or more"),
    ("web", {"known": logs.KnownLogs(processes=("worker", "beat"))},
     "no log named 'web': give one of app, edge, data, host, broker (when the host runs one) or a process of "
     "onehost.toml (worker, beat)"),
    ("broker", {"known": logs.KnownLogs(processes=("worker",))},
     "no log named 'broker': give one of app, edge, data, host, broker (when the host runs one) or a process of "
     "onehost.toml (worker)"),
    ("worker", {"known": logs.KnownLogs(broker=True, where="the host")},
     "no log named 'worker': give one of app, edge, data, host, broker (when the host runs one) or a process "
     "the host runs (none)"),
])
def test_bad_requests_say_what_to_give(kind, options, message):
    with pytest.raises(logs.BadInput) as raised:
        logs.log_request(kind, **options)
    assert str(raised.value) == message


def test_the_broker_and_the_declared_processes_are_logs_too():
    known = logs.KnownLogs(processes=("worker", "beat"), broker=True)
    assert logs.log_request("broker", lines=5, known=known) == logs.LogRequest(kind="broker", lines=5)
    assert logs.log_request("beat", since="1h", known=known) == logs.LogRequest(
        kind="beat", since=logs.Since(seconds_ago=3600))
    assert logs.log_request("worker", follow=True) == logs.LogRequest(kind="worker", lines=100, follow=True)


# --- which processes and broker there are ----------------------------------------------------

def test_onehost_tomls_processes_and_broker_come_with_the_inventorys_host_data():
    data = {"app_name": "shop", "processes": {"worker": "celery -A shop worker", "beat": "celery -A shop beat"},
            "broker": "valkey"}
    assert logs.known_from_settings(data) == logs.KnownLogs(processes=("worker", "beat"), broker=True)
    assert logs.known_from_settings({"app_name": "shop", "broker": "off"}) == logs.KnownLogs()
    assert logs.known_from_settings({"app_name": "shop"}) == logs.KnownLogs()
    assert logs.known_from_settings({"ssh_user": "admin"}) is None    # no onehost.toml: ask the host


def test_the_host_is_asked_for_its_process_containers_and_the_brokers():
    assert logs.known_on_host_script() == (
        "# onehost logs: which processes and broker\n"
        "docker ps --all --filter label=onehost.process --format 'process {{.Label \"onehost.process\"}}'\n"
        "if docker container inspect broker-broker-1 >/dev/null 2>&1; then echo broker; fi")
    # Both colours' containers during a deploy, each name once.
    assert logs.known_from_host("process worker\nprocess beat\nprocess worker\nbroker\n") == logs.KnownLogs(
        processes=("beat", "worker"), broker=True, where="the host")
    assert logs.known_from_host("") == logs.KnownLogs(where="the host")


# --- builders ------------------------------------------------------------------------------

def test_container_logs_selects_then_follows():
    assert logs.container_logs("edge-nginx-1") == ["docker", "logs", "edge-nginx-1"]
    assert logs.container_logs("app-blue-app-1", since=logs.Since(seconds_ago=600), lines=20, follow=True) == [
        "docker", "logs", "--since", "600s", "--tail", "20", "--follow", "app-blue-app-1"]
    assert logs.container_logs("data-postgres-1", since=logs.Since(epoch=1777627800)) == [
        "docker", "logs", "--since", "1777627800", "data-postgres-1"]


def test_journal_reads_the_host_units_in_utc():
    assert logs.journal(lines=100) == [
        "journalctl", "--no-pager", "--utc", "--output", "short-iso",
        "--unit", "onehost-*", "--unit", "swapfile.swap", "--lines", "100"]
    assert logs.journal(since=logs.Since(seconds_ago=3600), follow=True, as_json=True) == [
        "journalctl", "--no-pager", "--utc", "--output", "json",
        "--unit", "onehost-*", "--unit", "swapfile.swap", "--since", "-3600s", "--follow"]


def test_the_unit_patterns_cover_every_unit_the_image_bakes():
    units = sorted(path.name for path in (REPO_ROOT / "deploy/rootfs/etc/systemd/system").iterdir()
                   if path.suffix in (".service", ".timer", ".swap"))
    assert "onehost-backup.service" in units and "onehost-certbot-renew.service" in units
    assert [unit for unit in units if not any(fnmatch.fnmatch(unit, pattern) for pattern in logs.HOST_UNITS)] == []


def test_edge_and_data_scripts_check_the_container_then_read_its_log():
    assert logs.logs_script(logs.log_request("edge"), LAYOUT, "web-1") == (
        "# onehost logs edge\n"
        "docker container inspect edge-nginx-1 >/dev/null 2>&1 || { echo 'error: web-1 has no container "
        "edge-nginx-1 (the edge stack): deploy, or start the stacks on the host with "
        "`systemctl start onehost-stacks`' >&2; exit 1; }\n"
        "exec docker logs --tail 100 edge-nginx-1 2>&1")
    assert logs.logs_script(logs.log_request("data", since="1d"), LAYOUT, "web-1").endswith(
        "\nexec docker logs --since 86400s data-postgres-1 2>&1")


def test_the_broker_script_checks_its_container_then_reads_its_log():
    assert logs.logs_script(logs.log_request("broker", lines=5), LAYOUT, "web-1") == (
        "# onehost logs broker\n"
        "docker container inspect broker-broker-1 >/dev/null 2>&1 || { echo 'error: web-1 has no container "
        "broker-broker-1 (the broker stack): deploy, or start the stacks on the host with "
        "`systemctl start onehost-stacks`' >&2; exit 1; }\n"
        "exec docker logs --tail 5 broker-broker-1 2>&1")


def test_a_process_script_reads_the_live_colours_container_of_it():
    script = logs.logs_script(logs.log_request("worker", lines=50), LAYOUT, "web-1")
    assert script == "\n".join([
        "# onehost logs worker",
        logs.require_release(LAYOUT, "web-1"),
        logs.live_colour(LAYOUT),
        'case "$colour" in',
        *(f"  {colour}) docker container inspect proc-{colour}-worker-process-1 >/dev/null 2>&1 || {{ echo 'error: "
          f"web-1 has no container proc-{colour}-worker-process-1 (the live colour'\"'\"'s worker process): deploy, or "
          f"start the stacks on the host with `systemctl start onehost-stacks`' >&2; exit 1; }}\n"
          f"    exec docker logs --tail 50 proc-{colour}-worker-process-1 2>&1 ;;" for colour in ("blue", "green")),
        "  *) { echo 'error: web-1'\"'\"'s nginx names no app colour in its upstream.inc: deploy again "
        "(pyinfra deploy/inventory.py deploy/deploy.py --data image=...)' >&2; exit 1; } ;;",
        "esac"])


def test_the_following_process_script_follows_the_live_colour_as_app_does():
    script = logs.logs_script(logs.log_request("beat", follow=True, since="10m"), LAYOUT, "web-1")
    assert script.startswith("# onehost logs beat --follow\n" + logs.require_release(LAYOUT, "web-1") + "\n")
    assert "\n    start_follower green docker logs --since 600s --follow proc-green-beat-process-1 ;;\n" in script
    assert script.endswith("while sleep 1; do\n  session_open || break\n"
                           + f"  {logs.live_colour(LAYOUT)}\n"
                           + '  case "$colour" in blue) refollow blue proc-blue-beat-process-1 ;; green) refollow '
                             'green proc-green-beat-process-1 ;; esac\ndone\nstop_followers')


def test_the_host_script_is_journalctl():
    assert logs.logs_script(logs.log_request("host", since="2h"), LAYOUT, "web-1") == (
        "# onehost logs host\n"
        "exec journalctl --no-pager --utc --output short-iso --unit 'onehost-*' --unit swapfile.swap --since -7200s")


def test_the_app_script_reads_the_live_colours_container():
    script = logs.logs_script(logs.log_request("app", since="10m"), LAYOUT, "web-1")
    assert script.splitlines()[:2] == ["# onehost logs app", logs.require_release(LAYOUT, "web-1")]
    for colour in ("blue", "green"):
        assert (f"  {colour}) docker container inspect app-{colour}-app-1 >/dev/null 2>&1 || {{ echo 'error: web-1 "
                f"has no container app-{colour}-app-1 (the live colour): deploy, or start the stacks on the host "
                f"with `systemctl start onehost-stacks`' >&2; exit 1; }}\n"
                f"    exec docker logs --since 600s app-{colour}-app-1 2>&1 ;;\n") in script


def test_the_following_app_script_starts_on_the_live_colour_and_watches_for_the_next():
    script = logs.logs_script(logs.log_request("app", follow=True), LAYOUT, "web-1")
    assert "\n    start_follower blue docker logs --tail 100 --follow app-blue-app-1 ;;\n" in script
    assert ('  case "$colour" in blue) refollow blue app-blue-app-1 ;; green) refollow green app-green-app-1 ;; esac\n'
            in script)
    assert script.endswith("while sleep 1; do\n  session_open || break\n"
                           + f"  {logs.live_colour(LAYOUT)}\n"
                           + '  case "$colour" in blue) refollow blue app-blue-app-1 ;; green) refollow green '
                             'app-green-app-1 ;; esac\ndone\nstop_followers')


def test_the_following_scripts_of_the_other_logs():
    edge = logs.logs_script(logs.log_request("edge", follow=True, since="1h"), LAYOUT, "web-1")
    assert "\nstart_follower edge docker logs --since 3600s --follow edge-nginx-1\n" in edge
    assert "\n  refollow edge edge-nginx-1\n" in edge
    host = logs.logs_script(logs.log_request("host", follow=True, since="1h"), LAYOUT, "web-1")
    assert ("\nstart_follower journal journalctl --no-pager --utc --output short-iso --unit 'onehost-*' "
            "--unit swapfile.swap --since -3600s --follow\n") in host
    assert '\n  running_follower "$follower_journal" || break\n' in host


@pytest.mark.parametrize("kind", [*logs.KINDS, "broker", "worker"])
@pytest.mark.parametrize("follow", [False, True])
def test_every_script_is_valid_sh(kind, follow):
    script = logs.logs_script(logs.log_request(kind, follow=follow), LAYOUT, "web-1")
    subprocess.run(["sh", "-n", "-c", script], check=True, timeout=10)


# --- the lines -----------------------------------------------------------------------------

def test_an_app_line_reads_time_level_message_request_id():
    assert logs.readable(APP_LINE) == "2026-05-01T09:30:00.123Z  INFO     POST /api/events/ 201  request_id=3f2a9c"


def test_an_app_error_line_brings_its_traceback_indented():
    assert logs.readable(ERROR_LINE) == (
        "2026-05-01T09:30:01.000Z  ERROR    Internal Server Error: /api/events/  request_id=3f2a9c\n"
        "    Traceback (most recent call last):\n"
        '      File "x.py", line 1\n'
        "    ValueError: no")


def test_an_app_line_with_an_event_names_it():
    line = json.dumps({"time": "t", "level": "ERROR", "message": "database connection failed: x",
                       "event": "database_connection_failed"})
    assert logs.readable(line) == "t  ERROR    database connection failed: x  event=database_connection_failed"


def test_an_nginx_access_line_reads_time_status_request_id():
    assert logs.readable(NGINX_LINE) == (
        "2026-05-01T09:30:00+00:00  201      POST /api/events/?x=1 0.013s (app 201)  request_id=3f2a9c")


@pytest.mark.parametrize("line", [NGINX_ERROR, "PostgreSQL init process complete; ready for start up.",
                                  "[2026-05-01 09:30:00 +0000] [1] [INFO] Booting worker with pid: 7",
                                  '{"no": "message"}', "[1, 2]", "{not json", ""])
def test_other_lines_are_printed_as_they_are(line):
    assert logs.readable(line) == line


def test_grep_looks_in_the_line_as_written():
    assert logs.matches(NGINX_ERROR, grep="Connection refused")
    assert logs.matches(APP_LINE, grep='"status": 201')
    assert not logs.matches(APP_LINE, grep="connection refused")
    assert logs.matches("anything")


def test_request_id_matches_the_apps_and_nginxs_field_only():
    for line in (APP_LINE, ERROR_LINE, NGINX_LINE):
        assert logs.matches(line, request_id="3f2a9c")
        assert not logs.matches(line, request_id="3f2a9")
    assert not logs.matches("request 3f2a9c failed", request_id="3f2a9c")   # a plain line names no request
    assert not logs.matches(APP_LINE, grep="DELETE", request_id="3f2a9c")    # both filters apply


# --- the console command -------------------------------------------------------------------

@pytest.fixture
def streamed(monkeypatch):
    """The lines the host would send, fed to the command instead of running ssh; records the script."""
    calls = []

    def fake_each_line(session, script, handle):
        calls.append((session, script))
        for line in (APP_LINE, ERROR_LINE, NGINX_LINE, "plain line 3f2a9c"):
            handle(line)
        return 0
    monkeypatch.setattr("onehost.cli.logs.each_line", fake_each_line)
    monkeypatch.setenv("ONEHOST_HOSTS", "admin@web-1.example.com")
    return calls


def test_piped_output_is_the_lines_as_written(streamed, capsys):
    assert main(["logs", "--request-id", "3f2a9c"]) == 0
    assert capsys.readouterr().out == f"{APP_LINE}\n{ERROR_LINE}\n{NGINX_LINE}\n"
    [(session, script)] = streamed
    assert session.name == "web-1.example.com"
    assert script == logs.logs_script(logs.log_request("app", filtering=True), LAYOUT, "web-1.example.com")


def test_a_terminal_gets_readable_lines_unless_json_is_asked(streamed, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert main(["logs", "edge", "--grep", "3f2a9c"]) == 0
    assert capsys.readouterr().out == "\n".join(
        [logs.readable(APP_LINE), logs.readable(ERROR_LINE), logs.readable(NGINX_LINE), "plain line 3f2a9c", ""])
    assert main(["logs", "edge", "--grep", "POST", "--json"]) == 0
    assert capsys.readouterr().out == f"{APP_LINE}\n{NGINX_LINE}\n"


@pytest.mark.parametrize("arguments, message", [
    (["logs", "--since", "soon"], "error: --since 'soon' is neither a duration (30s, 10m, 2h, 1d) nor an ISO time "
                                  "(2026-05-01T09:30Z): give one of those\n"),
    (["logs", "data", "--request-id", "x"], "error: --request-id looks in the app's and nginx's lines: use it with "
                                            "`logs app` or `logs edge`, not `logs data`\n"),
    (["logs", "-n", "0"], "error: --lines 0: give a number of lines of 1 or more\n"),
])
def test_bad_options_are_one_line_and_reach_no_host(arguments, message, streamed, monkeypatch, capsys):
    monkeypatch.setattr("onehost.cli.logs.one_session", lambda host: pytest.fail("reached for a host"))
    assert main(arguments) == 1
    assert capsys.readouterr().err == message
    assert streamed == []


SHOP_TOML = """app_name = "shop"
server_names = ["shop.example.com"]
image = "shop"
registry = "none"
broker = "valkey"

[processes]
worker = "celery -A shop worker -l info"
beat = "celery -A shop beat -l info"
"""


@pytest.fixture
def host_answers(monkeypatch):
    """Stands in for the host's answer to a script run with HostSession.output; records the scripts."""
    asked = []

    def output(session, script, timeout=None):
        asked.append(script)
        return "process worker\nprocess beat\nbroker"
    monkeypatch.setattr("onehost.remote.session.HostSession.output", output)
    return asked


@pytest.fixture
def shop_settings(tmp_path, monkeypatch):
    path = tmp_path / "onehost.toml"
    path.write_text(SHOP_TOML)
    monkeypatch.setenv("ONEHOST_APP_CONFIG", str(path))


def test_a_process_of_onehost_toml_is_read_without_asking_the_host(streamed, shop_settings, host_answers):
    assert main(["logs", "worker", "--lines", "50"]) == 0
    assert main(["logs", "broker", "-n", "5"]) == 0
    assert [script for _, script in streamed] == [
        logs.logs_script(logs.log_request("worker", lines=50), LAYOUT, "web-1.example.com"),
        logs.logs_script(logs.log_request("broker", lines=5), LAYOUT, "web-1.example.com")]
    assert host_answers == []


def test_an_unknown_log_names_the_logs_of_onehost_toml(streamed, shop_settings, host_answers, capsys):
    assert main(["logs", "web"]) == 1
    assert capsys.readouterr().err == ("error: no log named 'web': give one of app, edge, data, host, broker (when "
                                       "the host runs one) or a process of onehost.toml (worker, beat)\n")
    assert streamed == [] and host_answers == []


def test_without_onehost_toml_the_host_says_which_processes_and_broker_it_runs(streamed, host_answers, capsys):
    assert main(["logs", "beat", "-f"]) == 0
    assert main(["logs", "web"]) == 1
    assert capsys.readouterr().err == ("error: no log named 'web': give one of app, edge, data, host, broker (when "
                                       "the host runs one) or a process the host runs (beat, worker)\n")
    assert host_answers == [logs.known_on_host_script()] * 2
    assert [script for _, script in streamed] == [
        logs.logs_script(logs.log_request("beat", follow=True), LAYOUT, "web-1.example.com")]


def test_the_built_in_logs_ask_the_host_nothing_first(streamed, host_answers):
    assert main(["logs", "data"]) == 0
    assert host_answers == [] and len(streamed) == 1


def test_help_names_the_logs_and_gives_examples(capsys):
    with pytest.raises(SystemExit):
        main(["logs", "--help"])
    text = capsys.readouterr().out
    for example in ("onehost logs -f", "onehost logs app --request-id", "onehost logs edge",
                    "onehost logs data", "onehost logs host --since 2h", "onehost logs worker --lines 50",
                    "onehost logs broker"):
        assert example in text
    assert "--since" in text and "--grep" in text and "--json" in text


# --- the following script, run here by sh ---------------------------------------------------

# Stands in for the host's docker: containers are files in $FAKE_DOCKER (NAME.state holds
# "<running> <finished at>", NAME.log its lines); `logs` prints the log and, with --follow, the
# lines added after, until the state stops saying running (as `docker logs --follow` ends when its
# container stops). Every call is appended to calls.
FAKE_DOCKER = r"""#!/bin/sh
echo "$*" >> "$FAKE_DOCKER/calls"
for name; do :; done
case "$1 $2" in
  "container inspect")
    [ -f "$FAKE_DOCKER/$name.state" ] || exit 1
    case "$*" in *--format*) cat "$FAKE_DOCKER/$name.state" ;; esac ;;
  "logs "*)
    case "$*" in
      *--follow*)
        tail -n +1 -f "$FAKE_DOCKER/$name.log" & tailing=$!
        trap 'kill $tailing; exit 143' TERM
        while grep -qs '^true' "$FAKE_DOCKER/$name.state"; do sleep 0.1; done
        sleep 0.3; kill $tailing ;;
      *) cat "$FAKE_DOCKER/$name.log" ;;
    esac ;;
esac
"""


class FakeHost:
    def __init__(self, tmp_path):
        self.root = tmp_path
        self.docker = tmp_path / "docker"
        self.docker.mkdir()
        (tmp_path / "bin").mkdir()
        fake = tmp_path / "bin" / "docker"
        fake.write_text(FAKE_DOCKER)
        fake.chmod(0o755)
        self.layout = layout_at(str(tmp_path / "data"))
        release = tmp_path / "data" / "releases" / "r1"
        release.mkdir(parents=True)
        (release / "release.env").write_text("APP_IMAGE=app@sha256:1\n")
        (tmp_path / "data" / "releases" / "current").symlink_to(release)
        (tmp_path / "data" / "stacks" / "edge" / "conf.d").mkdir(parents=True)
        self.output = tmp_path / "output"
        self.sessions: list[subprocess.Popen] = []

    def container(self, name: str, state: str, *lines: str) -> None:
        log = self.docker / f"{name}.log"
        with log.open("a") as file:
            file.writelines(f"{line}\n" for line in lines)
        (self.docker / f"{name}.state").write_text(state + "\n")

    def switch_to(self, colour: str) -> None:
        (self.root / "upstream.partial").write_text(upstream_line(f"app-{colour}-app-1", 8000))
        os.replace(self.root / "upstream.partial", self.root / "data/stacks/edge/conf.d/upstream.inc")

    def calls(self, start: str = "logs") -> list[str]:
        path = self.docker / "calls"
        return [call for call in path.read_text().splitlines() if call.startswith(start)] if path.exists() else []

    def printed(self) -> list[str]:
        return self.output.read_text().splitlines() if self.output.exists() else []

    def processes(self) -> list[int]:
        """This test's fake dockers and tails still running."""
        found = []
        for entry in os.listdir("/proc"):
            try:
                arguments = open(f"/proc/{entry}/cmdline", "rb").read()
                state = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if str(self.docker).encode() in arguments and state != "Z" and b"sshd-session" not in arguments:
                found.append(int(entry))
        return found

    def follow(self, kind: str = "app") -> subprocess.Popen:
        """The script under a copy of sh named like OpenSSH's per-connection process, which stands
        in for the ssh session (kill it and the connection is gone)."""
        sshd = self.root / "sshd-session"
        shutil.copy(shutil.which("sh"), sshd)
        script = logs.logs_script(logs.log_request(kind, follow=True), self.layout, "web-1")
        environment = {**os.environ, "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}",
                       "FAKE_DOCKER": str(self.docker)}
        session = subprocess.Popen([str(sshd), "-c", 'sh -c "$1" > "$2" 2>&1; exit $?', "sshd-session", script,
                                    str(self.output)], env=environment, start_new_session=True)
        self.sessions.append(session)
        return session

    def end_every_session(self) -> None:
        """Whatever a failed test left: each session's process group (the script and its
        followers never leave it), so no loop outlives the test."""
        for session in self.sessions:
            try:
                os.killpg(session.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            session.wait()


@pytest.fixture
def fake_host(tmp_path):
    host = FakeHost(tmp_path)
    yield host
    host.end_every_session()
    for pid in host.processes():
        os.kill(pid, signal.SIGKILL)


def test_following_moves_to_the_new_colour_from_its_first_line_and_stops_with_the_session(fake_host):
    fake_host.container("app-blue-app-1", "true 0001-01-01T00:00:00Z", "blue 1")
    fake_host.switch_to("blue")
    session = fake_host.follow()
    wait_until(lambda: "blue 1" in fake_host.printed(), "blue's line", 10, interval=0.1)
    assert fake_host.calls() == ["logs --tail 100 --follow app-blue-app-1"]

    # A deploy: green starts and logs before the switch, then nginx is pointed at it.
    fake_host.container("app-green-app-1", "true 0001-01-01T00:00:00Z", "green boot", "green ready")
    fake_host.container("app-blue-app-1", "true 0001-01-01T00:00:00Z", "blue 2")
    wait_until(lambda: "blue 2" in fake_host.printed(), "blue's next line", 10, interval=0.1)
    switched = time.monotonic()
    fake_host.switch_to("green")
    wait_until(lambda: "green ready" in fake_host.printed(), "green's lines after the switch", 10, interval=0.1)
    assert time.monotonic() - switched < 3
    fake_host.container("app-blue-app-1", "true 0001-01-01T00:00:00Z", "blue draining")
    fake_host.container("app-green-app-1", "true 0001-01-01T00:00:00Z", "green 3")
    wait_until(lambda: {"blue draining", "green 3"} <= set(fake_host.printed()), "both colours' lines", 10,
               interval=0.1)
    fake_host.container("app-blue-app-1", "false 2026-05-01T09:30:00Z")   # the drain ends: blue stops
    fake_host.container("app-green-app-1", "true 0001-01-01T00:00:00Z", "green 4")
    wait_until(lambda: "green 4" in fake_host.printed(), "green's next line", 10, interval=0.1)
    assert fake_host.calls() == ["logs --tail 100 --follow app-blue-app-1", "logs --follow app-green-app-1"]
    assert sorted(fake_host.printed()) == sorted(
        ["blue 1", "blue 2", "blue draining", "green boot", "green ready", "green 3", "green 4"])

    os.kill(session.pid, signal.SIGKILL)   # the connection goes
    session.wait()
    wait_until(lambda: not fake_host.processes(), "the followers to stop", 10, interval=0.1)


def test_following_a_process_moves_to_the_new_colours_once_it_starts_after_the_switch(fake_host):
    """A deploy starts the new colour's processes after the web switch (deploy/tasks/processes.py):
    the new worker's container appears a moment after upstream.inc names its colour."""
    fake_host.container("proc-blue-worker-process-1", "true 0001-01-01T00:00:00Z", "blue task 1")
    fake_host.switch_to("blue")
    session = fake_host.follow("worker")
    wait_until(lambda: "blue task 1" in fake_host.printed(), "blue worker's line", 10, interval=0.1)
    fake_host.switch_to("green")
    asked = len(fake_host.calls("container inspect --format"))
    wait_until(lambda: len(fake_host.calls("container inspect --format")) >= asked + 2,
               "two ticks that find no green worker yet", 10, interval=0.1)
    fake_host.container("proc-green-worker-process-1", "true 0001-01-01T00:00:00Z", "green ready", "green task 2")
    fake_host.container("proc-blue-worker-process-1", "true 0001-01-01T00:00:00Z", "blue warm shutdown")
    fake_host.container("proc-blue-worker-process-1", "false 2026-05-01T09:30:00Z")
    wait_until(lambda: {"green ready", "green task 2", "blue warm shutdown"} <= set(fake_host.printed()),
               "the green worker's lines and the blue one's last", 10, interval=0.1)
    assert fake_host.calls() == ["logs --tail 100 --follow proc-blue-worker-process-1",
                                 "logs --follow proc-green-worker-process-1"]
    os.kill(session.pid, signal.SIGKILL)
    session.wait()
    wait_until(lambda: not fake_host.processes(), "the followers to stop", 10, interval=0.1)


def test_a_restarted_container_is_followed_from_the_end_of_its_last_run(fake_host):
    fake_host.container("edge-nginx-1", "true 0001-01-01T00:00:00Z", "first run")
    session = fake_host.follow("edge")
    wait_until(lambda: "first run" in fake_host.printed(), "the first run's line", 10, interval=0.1)
    fake_host.container("edge-nginx-1", "false 2026-05-01T09:30:00.5Z")
    asked = len(fake_host.calls("container inspect --format"))
    wait_until(lambda: len(fake_host.calls("container inspect --format")) >= asked + 2,
               "two ticks that find it stopped", 10, interval=0.1)
    assert fake_host.calls() == ["logs --tail 100 --follow edge-nginx-1"]   # not followed while down
    fake_host.container("edge-nginx-1", "true 2026-05-01T09:30:00.5Z", "second run")
    wait_until(lambda: len(fake_host.calls()) == 2, "a second follower", 10, interval=0.1)
    assert fake_host.calls() == ["logs --tail 100 --follow edge-nginx-1",
                                 "logs --follow --since 2026-05-01T09:30:00.5Z edge-nginx-1"]
    os.kill(session.pid, signal.SIGKILL)
    session.wait()
    wait_until(lambda: not fake_host.processes(), "the followers to stop", 10, interval=0.1)


def test_no_release_stops_the_app_log_before_anything_runs(tmp_path):
    for follow in (False, True):
        script = logs.logs_script(logs.log_request("app", follow=follow), layout_at(str(tmp_path)), "web-1")
        result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10,
                                env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
        assert (result.returncode, result.stdout) == (NO_RELEASE_EXIT, "")
        assert result.stderr == f"error: {no_release_message('web-1')}\n"


@pytest.mark.parametrize("kind, name, whose", [("data", "data-postgres-1", "the data stack"),
                                               ("app", "app-green-app-1", "the live colour"),
                                               ("broker", "broker-broker-1", "the broker stack"),
                                               ("worker", "proc-green-worker-process-1",
                                                "the live colour's worker process")])
@pytest.mark.parametrize("follow", [False, True])
def test_a_missing_container_is_one_line_not_a_line_of_the_log(fake_host, kind, name, whose, follow):
    fake_host.switch_to("green")
    script = logs.logs_script(logs.log_request(kind, follow=follow), fake_host.layout, "web-1")
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10,
                            env={**os.environ, "PATH": f"{fake_host.root / 'bin'}:{os.environ['PATH']}",
                                 "FAKE_DOCKER": str(fake_host.docker)})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"error: web-1 has no container {name} ({whose}): deploy, or start the "
                             "stacks on the host with `systemctl start onehost-stacks`\n")
    assert fake_host.calls() == []


def test_session_command_is_the_one_ssh_stack():
    """The script goes through HostSession as every console command's does: `sudo sh -c SCRIPT`."""
    session = HostSession("web-1", {"ssh_user": "admin"})
    script = logs.logs_script(logs.log_request("edge"), LAYOUT, "web-1")
    assert shlex.split(session.command(script)[-1]) == ["sudo", "sh", "-c", script]


def test_an_upstream_naming_no_colour_is_one_line(fake_host):
    for follow in (False, True):
        script = logs.logs_script(logs.log_request("app", follow=follow), fake_host.layout, "web-1")
        result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10,
                                env={**os.environ, "PATH": f"{fake_host.root / 'bin'}:{os.environ['PATH']}",
                                     "FAKE_DOCKER": str(fake_host.docker)})
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == ("error: web-1's nginx names no app colour in its upstream.inc: deploy again "
                                 "(pyinfra deploy/inventory.py deploy/deploy.py --data image=...)\n")
