"""`onehost logs` against the test instance, called as a user calls it: the console script in a
subprocess (plain pipes) or in a pseudo-terminal (pexpect), with the instance's environment.
A request's lines are found by the id nginx gave it, in the app's log and in nginx's; a follower
started before a deploy goes on with the new colour's lines while the old colour still drains;
and when it is killed nothing of it is left, on the host or here."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter

import pexpect
import pytest

from onehost.commands import logs
from onehost.commands.live import NO_RELEASE_EXIT
from onehost.local.instance import wait_until
from onehost.local.shell import CommandFailed
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY
from tests.host.held_request import HeldRequest, running

FOLLOW_IMAGE = f"{APP_REPOSITORY}:test-logs-follow"
NO_RELEASE = ("error: {host} has no release yet: deploy one first "
              "(pyinfra deploy/inventory.py deploy/deploy.py --data image=...)\n")


@pytest.fixture(scope="module")
def onehost(instance_environ, deployed):
    def call(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "onehost.cli", *arguments], env=instance_environ,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    return call


def traced_request(instance, path: str) -> str:
    """A GET through nginx; the request id nginx gave it. The client's own X-Request-ID is not
    believed: nginx sends its $request_id upstream in its place (nginx/templates/proxy.inc.j2), and
    the app answers with the id it got (example/timewarp/logs.py)."""
    request = urllib.request.Request(f"{instance.config.url}{path}", headers={"X-Request-ID": "chosen-by-client"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id
    return request_id


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def lines_of(onehost, *arguments: str, count: int = 1) -> list[str]:
    """The command's output once it holds `count` lines (a line reaches Docker's log within moments)."""
    def enough():
        result = onehost(*arguments)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        return lines if len(lines) >= count else None
    return wait_until(enough, f"{count} line(s) from onehost {' '.join(arguments)}", 20)


# --- a request, by its id, in the app's log and in nginx's ---------------------------------------

def test_a_request_id_finds_the_apps_line_and_nginxs(onehost, test_instance, instance_environ):
    marker = uuid.uuid4().hex
    request_id = traced_request(test_instance, f"/api/events/?logs-check={marker}")

    [app_line] = lines_of(onehost, "logs", "app", "--request-id", request_id, "--json")
    app = json.loads(app_line)
    assert (app["request_id"], app["logger"], app["level"]) == (request_id, "timewarp.logs.requests", "INFO")
    assert (app["method"], app["path"], app["status"]) == ("GET", "/api/events/", 200)

    [edge_line] = lines_of(onehost, "logs", "edge", "--request-id", request_id, "--since", "10m")
    edge = json.loads(edge_line)   # piped: as nginx wrote it
    assert (edge["request_id"], edge["status"], edge["uri"]) == (request_id, 200, f"/api/events/?logs-check={marker}")

    assert onehost("logs", "app", "--request-id", "chosen-by-client").stdout == ""

    # At a terminal: one readable line each.
    for kind, pattern in (("app", rf"\S+Z  INFO     GET /api/events/ 200  request_id={request_id}\r\n"),
                          ("edge", rf"\S+  200      GET /api/events/\?logs-check={marker} [0-9.]+s \(app 200\)  "
                                   rf"request_id={request_id}\r\n")):
        terminal = pexpect.spawn(sys.executable, ["-m", "onehost.cli", "logs", kind, "--request-id", request_id],
                                 env=instance_environ, encoding="utf-8", timeout=60, dimensions=(24, 300))
        terminal.expect(pattern)
        terminal.expect(pexpect.EOF)
        terminal.close()
        assert terminal.exitstatus == 0


# --- following across a deploy -------------------------------------------------------------------

class Follower:
    """`onehost logs app -f --json` in the background; a thread collects its lines as they come."""

    def __init__(self, environ: dict):
        self.process = subprocess.Popen([sys.executable, "-m", "onehost.cli", "logs", "app", "-f", "--json"],
                                        env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def request_line(self, request_id: str, timeout: float) -> dict:
        def arrived():
            assert self.process.poll() is None, self.process.stderr.read()
            return next((entry for entry in map(logs.json_entry, list(self.lines))
                         if entry and entry.get("request_id") == request_id), None)
        return wait_until(arrived, f"the follower's line for request {request_id}", timeout, interval=0.1)


def logged_by(instance, container: str, request_id: str) -> bool:
    result = instance.inner("docker", "logs", container, check=False)
    return request_id in result.stdout


def container_lines(instance, container: str) -> Counter:
    result = instance.inner("docker", "logs", container)
    return Counter((result.stdout + result.stderr).splitlines())


def leftovers(instance) -> list[str]:
    """Processes of a logs command: its script and its `docker logs` on the host, its ssh client here."""
    on_host = [instance.inner("pgrep", "-af", pattern, check=False).stdout.strip()
               for pattern in (logs.SCRIPT_MARK, "docker logs")]
    # Only the ssh clients to this instance: other checkouts' tests may run logs commands too.
    here = subprocess.run(["pgrep", "-af", logs.SCRIPT_MARK], capture_output=True, text=True).stdout.splitlines()
    ours = "\n".join(line for line in here if f"-p {instance.config.ssh_port} " in line)
    return [found for found in (*on_host, ours) if found]


def wait_for_no_leftovers(instance, what: str, timeout: float = 20) -> None:
    found: list[str] = []

    def none_left():
        found[:] = leftovers(instance)
        return not found
    try:
        wait_until(none_left, what, timeout)
    except CommandFailed:
        raise AssertionError(f"{what}: still running after {timeout} s: {found}") from None


def test_following_the_app_goes_on_with_the_new_colour_across_a_deploy(deployer, test_instance, instance_environ,
                                                                      deployed):
    # A deploy of the same inputs changes nothing; another tag of the same image is a new release.
    subprocess.run(["docker", "tag", APP_IMAGE, FOLLOW_IMAGE], check=True)
    follower = Follower(instance_environ)
    deploy_result = {}
    held = None
    try:
        before = traced_request(test_instance, "/api/events/?logs-follow=before")
        follower.request_line(before, 30)
        old = test_instance.live_container()

        held = HeldRequest(test_instance)
        deploy = threading.Thread(target=lambda: deploy_result.update(
            run=deployer.run({"image": FOLLOW_IMAGE}, check=False, settle=False)), daemon=True)
        deploy.start()

        def switched():
            assert deploy.is_alive() or "run" not in deploy_result, deploy_result["run"].stdout[-3000:]
            return test_instance.live_container() != old
        wait_until(switched, "the deploy to switch colours", 600)
        new = test_instance.live_container()

        # A request the new colour serves, made after the switch; its line arrives within
        # seconds, while the old colour is still draining (the held request keeps it running).
        def served_by_new():
            request_id = traced_request(test_instance, "/api/events/?logs-follow=after")
            wait_until(lambda: logged_by(test_instance, new, request_id) or logged_by(test_instance, old, request_id),
                       f"request {request_id}'s line in either colour's log", 10)
            return request_id if logged_by(test_instance, new, request_id) else None
        after = wait_until(served_by_new, "a request served by the new colour", 30)
        asked = time.monotonic()
        follower.request_line(after, 10)
        assert time.monotonic() - asked < 5
        assert running(test_instance, old), "the old colour had stopped: its drain was over"

        # The deploy returns while the old colour still drains: it is retired in the background.
        deploy.join(timeout=600)
        assert deploy_result["run"].returncode == 0, deploy_result["run"].stdout[-3000:]
        assert running(test_instance, old), "the old colour stopped before its held request ended"
        held.release()
        wait_until(lambda: not running(test_instance, old), "the old colour to stop once its request ended", 30)

        # The deploy is over, the follower goes on; it has every line the new colour wrote, from its first.
        later = traced_request(test_instance, "/api/events/?logs-follow=later")
        follower.request_line(later, 10)
        written = container_lines(test_instance, new)
        assert written
        wait_until(lambda: not (written - Counter(follower.lines)), "every line of the new colour", 10)
        assert follower.process.poll() is None
    finally:
        if held:
            held.release()
        follower.process.kill()   # SIGKILL: no chance to tidy up here; the host must notice
        follower.process.wait(timeout=30)
        try:
            wait_for_no_leftovers(test_instance, "no follower left on the host or here")
        finally:
            deployer.run({"image": APP_IMAGE})   # the session's release again, whatever happened


# --- the host's units, PostgreSQL ------------------------------------------------------------------

def test_the_host_log_shows_the_units(onehost, test_instance):
    test_instance.inner("systemctl", "start", "onehost-certbot-renew.service")
    lines = wait_until(lambda: [line for line in lines_of(onehost, "logs", "host", "--since", "1h")
                                if "onehost-certbot-renew" in line], "the renewal unit's lines", 20)
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 ", line) for line in lines), lines

    entries = json_lines(onehost("logs", "host", "--since", "1h", "--json").stdout)
    # systemd's own lines about a unit name it in UNIT (their _SYSTEMD_UNIT is PID 1's init.scope);
    # a unit's processes' lines in _SYSTEMD_UNIT (systemd.journal-fields(7)).
    units = {entry.get("UNIT") or entry.get("_SYSTEMD_UNIT") for entry in entries}
    assert "onehost-certbot-renew.service" in units
    assert all(unit.startswith("onehost-") or unit == "swapfile.swap" for unit in units), units


def test_the_data_log_is_postgresqls(onehost, test_instance):
    marker = f"logs_check_{uuid.uuid4().hex}"
    failed = test_instance.inner("docker", "exec", "data-postgres-1", "psql", "--username", "timewarp",
                                 "--dbname", "timewarp", "--command", f"select {marker}", check=False)
    assert failed.returncode != 0
    lines = lines_of(onehost, "logs", "data", "--grep", marker, "--since", "10m", count=2)
    assert any(f'ERROR:  column "{marker}" does not exist' in line for line in lines), lines
    assert all(marker in line for line in lines)
    assert "database system is ready to accept connections" in onehost("logs", "data", "--since", "1d").stdout


# --- bad inputs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, code, message", [
    (["logs", "--host", "web-9"], 1,
     "error: no host named 'web-9' in the inventory (its hosts: {host}); give one of those to --host, "
     "or leave --host out\n"),
    (["logs", "app", "--data-dir", "/data/no-such"], NO_RELEASE_EXIT, NO_RELEASE),
    (["logs", "app", "-f", "--data-dir", "/data/no-such"], NO_RELEASE_EXIT, NO_RELEASE),
    (["logs", "--since", "yesterday"], 1, "error: --since 'yesterday' is neither a duration (30s, 10m, 2h, 1d) "
                                          "nor an ISO time (2026-05-01T09:30Z): give one of those\n"),
], ids=["unknown-host", "no-release", "no-release-follow", "bad-since"])
def test_bad_inputs_are_one_line(onehost, test_instance, arguments, code, message):
    result = onehost(*arguments)
    expected = (code, "", message.format(host=test_instance.config.name))
    assert (result.returncode, result.stdout, result.stderr) == expected


def test_the_other_logs_need_no_release(onehost):
    for kind in ("edge", "data", "host"):
        result = onehost("logs", kind, "--data-dir", "/data/no-such", "--lines", "5")
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert 1 <= len(result.stdout.splitlines()) <= 5


def test_a_killed_reader_leaves_nothing(instance_environ, test_instance, deployed):
    for kind in ("edge", "host"):
        client = subprocess.Popen([sys.executable, "-m", "onehost.cli", "logs", kind, "-f"], env=instance_environ,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        assert client.stdout.readline()   # following
        os.kill(client.pid, 15)
        client.wait(timeout=30)
        wait_for_no_leftovers(test_instance, f"no follower of {kind} left")
