"""The switch's wait on the host (switch.wait_until_answers), run for real with `sh` against
stand-in `curl` and `docker` executables: how it ends, what it prints, and how fast it gives up."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from onehost.commands import switch

STATE_LINE = "ONEHOST_MIGRATIONS " + json.dumps({"pending": ["events.0002_add_place"], "unknown": []})
# curl answers once it has been called CURL_ANSWERS_AT times (0: never).
CURL = """#!/bin/sh
calls=$(( $(cat "$STANDIN/curl-calls" 2>/dev/null || echo 0) + 1 ))
echo "$calls" > "$STANDIN/curl-calls"
printf '%s\\n' "$@" > "$STANDIN/curl-args"
[ "$CURL_ANSWERS_AT" -gt 0 ] && [ "$calls" -ge "$CURL_ANSWERS_AT" ] && { echo '{"status": "ok"}'; exit 0; }
echo "curl: (7) Couldn't connect to server" >&2
exit 7
"""
# `docker inspect` prints the n-th line of DOCKER_STATUSES on its n-th call (the last repeats);
# `docker exec` records its arguments, takes EXEC_SECONDS, prints EXEC_OUTPUT, exits EXEC_STATUS.
DOCKER = """#!/bin/sh
case $1 in
  inspect)
    calls=$(( $(cat "$STANDIN/inspect-calls" 2>/dev/null || echo 0) + 1 ))
    echo "$calls" > "$STANDIN/inspect-calls"
    printf '%s\\n' "$DOCKER_STATUSES" | sed -n "${calls}p;\\$p" | head -n 1 ;;
  exec)
    printf '%s\\n' "$@" > "$STANDIN/exec-args"
    sleep "$EXEC_SECONDS"
    printf '%s\\n' "$EXEC_OUTPUT"
    exit "$EXEC_STATUS" ;;
esac
"""


@pytest.fixture
def standin(tmp_path) -> Path:
    for name, text in (("curl", CURL), ("docker", DOCKER)):
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    return tmp_path


def wait(standin: Path, timeout_seconds: int = 5, curl_answers_at: int = 0, statuses: str = "running starting ",
         exec_output: str = f"noise\n{STATE_LINE}", exec_status: int = 0, exec_seconds: float = 0):
    env = {**os.environ, "PATH": f"{standin}:{os.environ['PATH']}", "STANDIN": str(standin),
           "CURL_ANSWERS_AT": str(curl_answers_at), "DOCKER_STATUSES": statuses,
           "EXEC_OUTPUT": exec_output, "EXEC_STATUS": str(exec_status), "EXEC_SECONDS": str(exec_seconds),
           "TMPDIR": str(standin)}
    command = switch.wait_until_answers("green", "/s", "api.example.com", timeout_seconds)
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    return result, time.monotonic() - started


def calls(standin: Path, name: str) -> int:
    return int((standin / f"{name}-calls").read_text())


def temporary_files(standin: Path) -> list[str]:
    return sorted(path.name for path in standin.iterdir() if path.name.startswith("tmp"))


def test_a_colour_that_answers_on_its_socket_after_a_few_polls_succeeds_by_socket(standin):
    result, seconds = wait(standin, curl_answers_at=4)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"{switch.ANSWERED} socket", f"{switch.MIGRATION_QUERY} 0",
                                          "noise", STATE_LINE]
    assert result.stderr == ""
    assert calls(standin, "curl") == 4 and calls(standin, "inspect") == 3
    assert 0.25 < seconds < 2                       # three pauses of 0.1 s, no more
    # The socket check is the switch's own, and the query is MIGRATION_STATE in the container.
    assert (standin / "curl-args").read_text().splitlines() == switch.socket_health_check(
        "/s", "green", "api.example.com")[1:]
    assert (standin / "exec-args").read_text().splitlines()[:6] == [
        "exec", "app-green-app-1", "python", "manage.py", "shell", "--command"]
    assert switch.MIGRATION_STATE in (standin / "exec-args").read_text()
    assert temporary_files(standin) == []           # the query's output file is gone
    answered = switch.parse_answered(result.stdout)
    assert answered.on_socket and answered.migration_state == {"pending": ["events.0002_add_place"], "unknown": []}


def test_the_migration_output_is_printed_after_the_wait_even_when_the_query_ends_last(standin):
    result, seconds = wait(standin, curl_answers_at=1, exec_seconds=0.6)
    assert result.returncode == 0
    assert result.stdout.splitlines()[1:] == [f"{switch.MIGRATION_QUERY} 0", "noise", STATE_LINE]
    assert seconds >= 0.6


def test_a_failed_migration_query_is_reported_by_its_exit_status(standin):
    result, _ = wait(standin, curl_answers_at=1, exec_output="django.db.utils.OperationalError: refused",
                     exec_status=1)
    assert result.returncode == 0
    answered = switch.parse_answered(result.stdout)
    assert answered.on_socket and answered.migration_state is None
    assert answered.migration_query == "exit status 1: django.db.utils.OperationalError: refused"


def test_a_colour_without_a_socket_succeeds_by_address_once_docker_says_healthy(standin):
    result, _ = wait(standin, statuses="running starting \nrunning starting \nrunning healthy")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"{switch.ANSWERED} address"
    assert calls(standin, "inspect") == 3
    assert calls(standin, "curl") == 4              # once more after healthy, before giving up on it


def test_a_container_that_exits_fails_at_once_naming_its_status(standin):
    """No waiting out the timeout, nor for the migration query (stopped, its output never shown)."""
    result, seconds = wait(standin, timeout_seconds=20, statuses="running starting \nexited ",
                           exec_seconds=10)
    assert result.returncode == 1
    assert result.stdout == "app-green-app-1 exited\n" and result.stderr == ""
    assert seconds < 3
    assert temporary_files(standin) == []


def test_a_colour_that_never_answers_fails_after_the_timeout_with_what_docker_says(standin):
    result, seconds = wait(standin, timeout_seconds=1, statuses="running starting")
    assert result.returncode == 1
    assert result.stdout == "app-green-app-1 not healthy within 1 s (Docker says: running starting)\n"
    assert 1 <= seconds < 3
    assert calls(standin, "curl") >= 3              # polled, not once


def test_a_container_docker_does_not_know_times_out_saying_nothing(standin):
    result, _ = wait(standin, timeout_seconds=1, statuses="")
    assert result.returncode == 1
    assert result.stdout == "app-green-app-1 not healthy within 1 s (Docker says: nothing)\n"
