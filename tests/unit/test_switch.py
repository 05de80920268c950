"""The blue/green switch, run against a fake host: what it runs, in which order, and how it undoes.

The fake host knows the exact argument lists a switch of its plan may run (built with the
switch's own builders, which test_command_builders pins as literal lists) and refuses anything
else, so a test passes only when the switch runs exactly the right commands.
"""

import json
import os
import shlex
import subprocess
from datetime import UTC, datetime

import pytest

from onehost.commands import compose_commands, lock, switch
from onehost.commands.lock import LockOwner
from onehost.commands.switch import HostLayout, SwitchFailed, SwitchPlan
from onehost.remote import switch as switch_runner
from onehost.remote.switch import Switch

LAYOUT = HostLayout(data_dir="/data", network="onehost", app_port=8000, server_name="api.example.com")
OWNER = LockOwner(who="ci", origin="runner", pid=7, started_at="2026-11-25T10:00:00+00:00", token="tok")
NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)

RELEASE_DIR, REPLACES = "/data/releases/v2-abc", "/data/releases/v1-def"
LOCK_DIR, HISTORY = "/data/deploy.lock", "/data/history.jsonl"
CONF_DIR = "/data/stacks/edge/conf.d"
GREEN_ADDRESS = "172.18.0.9"
DUMP = "/data/backups/pre-migrate-v2-abc-20261125T100000Z.dump"
# The lines of the commands the tests below name; the fake host answers them and their kin.
START_GREEN = switch.start_colour("green", RELEASE_DIR, 63)     # drain_seconds 3, and 60 more
SOCKETS_DIR = "/data/stacks/edge/conf.d/sockets"
GREEN_WAIT = switch.wait_until_answers("green", SOCKETS_DIR, "api.example.com", 5)
GREEN_ADDRESS_QUERY = switch.container_address("green", "onehost")
GREEN_DIRECT_CHECK = compose_commands.health_check(f"http://{GREEN_ADDRESS}:8000/health/", "api.example.com",
                                                   attempts=10)
GREEN_MIGRATION_STATE = switch.migration_state("green", RELEASE_DIR)
GREEN_MIGRATE = switch.migrate("green", RELEASE_DIR)
PG_DUMP = switch.pg_dump("/data/stacks/data", "timewarp", "timewarp", DUMP)
GREEN_SOCKET_CHECK = switch.socket_health_check(SOCKETS_DIR, "green", "api.example.com")
BLUE_SOCKET_CHECK = switch.socket_health_check(SOCKETS_DIR, "blue", "api.example.com")
LIVE_GREEN = switch.point_live_socket(SOCKETS_DIR, "green")
LIVE_BLUE = switch.point_live_socket(SOCKETS_DIR, "blue")
# upstream.inc in the socket layout (the directive never changes) and in the reload layout.
UPSTREAM_GREEN = switch.replace_upstream(CONF_DIR, switch.socket_upstream("green", 8000))
UPSTREAM_BLUE = switch.replace_upstream(CONF_DIR, switch.socket_upstream("blue", 8000))
UPSTREAM_GREEN_ADDRESS = switch.replace_upstream(CONF_DIR, switch.upstream_line("app-green-app-1", 8000))
UPSTREAM_BLUE_ADDRESS = switch.replace_upstream(CONF_DIR, switch.upstream_line("app-blue-app-1", 8000))
# In the socket layout live.sock and upstream.inc move in one command.
SWITCH_GREEN = switch.one_after_another(LIVE_GREEN, UPSTREAM_GREEN)
SWITCH_BLUE = switch.one_after_another(LIVE_BLUE, UPSTREAM_BLUE)
DIRECTIVE_CHANGED = (True, switch.DIRECTIVE_CHANGED + "\n")
RELOAD = compose_commands.reload_nginx("edge", "/data/stacks/edge/compose.yaml", "/data/stacks/edge/stack.env")
EDGE_CHECK = compose_commands.edge_health_check("api.example.com", False, attempts=5)
LINK_PREVIOUS = switch.point_link("/data/releases/previous", REPLACES)
LINK_CURRENT = switch.point_link("/data/releases/current", RELEASE_DIR)
LINKS = switch.one_after_another(LINK_PREVIOUS, LINK_CURRENT)
RETIRE_BLUE = switch.retire_colour("blue", 3, f"{REPLACES}/retire.log")
DRAIN_WAIT = switch.nginx_shutting_down_workers()
STOP_BLUE_AFTER_DRAIN = switch.stop_colour("blue", 3)
GREEN_LOGS = switch.colour_logs("green")
STOP_GREEN = switch.stop_colour("green", 10)
ACQUIRE = lock.acquire(LOCK_DIR, OWNER)
INSPECT = lock.inspect(LOCK_DIR)
RELEASE = lock.release(LOCK_DIR, OWNER)
HISTORY_PREFIX = switch.append_history(HISTORY, {})[:-1]   # the entry is the last argument


def history_then_release(entry: dict) -> list[str]:
    """The switch's last command: its history line appended, then the lock released."""
    return ["sh", "-c", f"{shlex.join(switch.append_history(HISTORY, entry))}; {shlex.join(RELEASE)}"]


def history_entry(command: list[str]) -> str | None:
    """The entry a history_then_release command appends, or None for another command."""
    prefix, suffix = shlex.join(HISTORY_PREFIX) + " ", f"; {shlex.join(RELEASE)}"
    if command[:2] != ["sh", "-c"] or not command[2].startswith(prefix) or not command[2].endswith(suffix):
        return None
    return shlex.split(command[2][:-len(suffix)])[-1]
FAILED = (False, "something broke\nfor this reason")
NEVER_HEALTHY = (False, "app-green-app-1 not healthy within 5 s (Docker says: running starting)\n")
LOCK_EXISTS = (False, "mkdir: cannot create directory: File exists")


def make_plan(**changes) -> SwitchPlan:
    values = dict(action="deploy", release_id="v2-abc", release_dir=RELEASE_DIR,
                  live_colour="blue", replaces=REPLACES, image="timewarp:v2",
                  host_image="timewarp:id-0123456789ab", image_id="sha256:0123456789ab",
                  git_commit="c0ffee", layout=LAYOUT, db_user="timewarp", db_name="timewarp",
                  health_timeout_seconds=5, drain_seconds=3)
    values.update(changes)
    return SwitchPlan(**values)


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch):
    """The switch stamps the history entry and the dump's name with the time: NOW."""
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW.astimezone(tz) if tz else NOW.replace(tzinfo=None)
    monkeypatch.setattr(switch_runner, "datetime", Frozen)


def answered(way="socket", migrations=None, query_status=0, query_output=None) -> tuple[bool, str]:
    """What wait_until_answers prints when the colour answers `way`, with the migration query's
    exit status and output (by default its state line for `migrations`)."""
    if query_output is None:
        query_output = "noise\nONEHOST_MIGRATIONS " + json.dumps(migrations or {"pending": [], "unknown": []})
    return True, f"{switch.ANSWERED} {way}\n{switch.MIGRATION_QUERY} {query_status}\n{query_output}\n"


QUERY_REFUSED = dict(query_status=1, query_output="django.db.utils.OperationalError: connection refused")


class FakeHost:
    """Answers a switch of `plan` like a healthy host; anything else it is asked fails the test.

    `fail` lists exact commands that fail; `answer` queues the answers to one command (the last
    repeats), e.g. an `up` that fails once then works. The new colour answers on its socket
    (`way`), and the migration query run while it started prints `pending` and `unknown`
    (`query`: how that query fails instead).
    """

    def __init__(self, plan, fail=(), pending=(), unknown=(), way="socket", query=None):
        self.commands: list[list[str]] = []
        self.queued: dict[tuple, list[tuple[bool, str]]] = {}
        migrations = {"pending": list(pending), "unknown": list(unknown)}
        answers = {
            tuple(ACQUIRE): (True, ""), tuple(INSPECT): (True, ""),
            tuple(lock.break_lock(LOCK_DIR)): (True, ""), tuple(RELEASE): (True, ""),
            tuple(switch.container_address("green", "onehost")): (True, f"{GREEN_ADDRESS}\n"),
            tuple(switch.container_address("blue", "onehost")): (True, "172.18.0.8\n"),
            tuple(DRAIN_WAIT): (True, "0\n"),
            tuple(RELOAD): (True, ""), tuple(EDGE_CHECK): (True, ""),
            tuple(PG_DUMP): (True, ""),
        }
        for colour, address in (("green", GREEN_ADDRESS), ("blue", "172.18.0.8")):
            answers.update({
                tuple(switch.start_colour(colour, plan.release_dir, plan.drain_seconds + 60)): (True, ""),
                tuple(switch.wait_until_answers(colour, SOCKETS_DIR, "api.example.com",
                                                plan.health_timeout_seconds)): (
                    answered(way, migrations, **(query or {}))),
                tuple(compose_commands.health_check(f"http://{address}:8000/health/", "api.example.com",
                                                    attempts=10)): (True, ""),
                tuple(switch.migration_state(colour, plan.release_dir)): (
                    True, "noise\nONEHOST_MIGRATIONS " + json.dumps(migrations)),
                tuple(switch.migrate(colour, plan.release_dir)): (True, ""),
                tuple(switch.socket_health_check(SOCKETS_DIR, colour, "api.example.com")): (True, "{}"),
                tuple(switch.one_after_another(
                    switch.point_live_socket(SOCKETS_DIR, colour),
                    switch.replace_upstream(CONF_DIR, switch.socket_upstream(colour, 8000)))): (True, ""),
                tuple(switch.replace_upstream(CONF_DIR, switch.upstream_line(switch.container(colour), 8000))): (
                    DIRECTIVE_CHANGED),
                tuple(switch.stop_colour(colour, plan.drain_seconds)): (True, ""),
                tuple(switch.stop_colour(colour, 10)): (True, ""),
                tuple(switch.retire_colour(colour, plan.drain_seconds, f"{plan.replaces}/retire.log")): (True, ""),
                tuple(switch.colour_logs(colour)): (True, "last words\n"),
            })
        current = switch.point_link("/data/releases/current", plan.release_dir)
        answers[tuple(switch.one_after_another(current))] = (True, "")
        if plan.replaces:
            answers[tuple(switch.one_after_another(switch.point_link("/data/releases/previous", plan.replaces),
                                                   current))] = (True, "")
        for command in fail:
            answers[tuple(command)] = FAILED
        self.answers = answers

    def answer(self, command, *answers) -> None:
        self.queued[tuple(command)] = list(answers)

    def __call__(self, command):
        self.commands.append(command)
        key = tuple(command)
        if key in self.queued:
            queue = self.queued[key]
            return queue.pop(0) if len(queue) > 1 else queue[0]
        if key in self.answers:
            return self.answers[key]
        if history_entry(command) is not None:
            return True, ""
        raise AssertionError(f"the switch ran a command no step of it should: {command}")

    def ran(self, command) -> bool:
        return command in self.commands

    def count(self, command) -> int:
        return self.commands.count(command)

    def history(self) -> dict:
        [entry] = [entry for entry in map(history_entry, self.commands) if entry is not None]
        return json.loads(entry)


def run_switch(plan, host):
    """A Switch on the fake host, with a clock that moves 0.1 s a call and no real pauses."""
    said = []
    clock = iter(range(1, 10_000))
    runner = Switch(plan, host, say=said.append, owner=OWNER, clock=lambda: next(clock) / 10,
                    pause=lambda _: None)
    return runner, said


def expected_history(host, **changes) -> dict:
    entry = {"action": "deploy", "release": "v2-abc", "image": "timewarp:v2",
             "host_image": "timewarp:id-0123456789ab", "image_id": "sha256:0123456789ab",
             "image_digest": None, "git_commit": "c0ffee", "who": "ci@runner",
             "started_at": "2026-11-25T10:00:00+00:00", "result": "ok", "error": None,
             "seconds": host.history()["seconds"], "colour": "green", "pre_migration_dump": None}
    entry.update(changes)
    return entry


def test_a_deploy_starts_the_idle_colour_checks_it_then_switches_and_stops_the_old():
    """The socket layout: traffic moves with the live.sock link; nginx is not reloaded."""
    host = FakeHost(make_plan())
    runner, said = run_switch(make_plan(), host)
    runner.execute()
    assert host.commands == [
        ACQUIRE,
        START_GREEN,
        GREEN_WAIT,                 # answered on its socket, migration state asked meanwhile
        SWITCH_GREEN,               # live.sock, then upstream.inc
        EDGE_CHECK,
        LINKS,                      # previous, then current
        RETIRE_BLUE,                # blue stops in the background: nothing reaches it any more
        history_then_release(expected_history(host)),
    ]
    assert "migrations: none pending" in said
    assert "check /health/ on green: answered on app-green.sock, the way nginx will reach it" in said
    assert "nginx sends to green: live.sock moved, no reload" in said
    assert not host.ran(RELOAD)
    assert [line.split(":")[0] for line in said if line.endswith(" s")] == [
        "lock", "start green with v2-abc and wait until it answers", "migrations", "switch nginx to green",
        "check /health/ through nginx", "point current and previous",
        "retire blue (it stops in the background)"]


def test_a_host_of_the_reload_layout_moves_to_the_socket_layout_with_one_reload():
    """upstream.inc still named a container: its directive changes once, and nginx reloads once."""
    host = FakeHost(make_plan())
    host.answer(SWITCH_GREEN, DIRECTIVE_CHANGED)
    runner, said = run_switch(make_plan(), host)
    runner.execute()
    switched = host.commands.index(SWITCH_GREEN)
    assert host.commands[switched - 1:switched + 3] == [GREEN_WAIT, SWITCH_GREEN, RELOAD, EDGE_CHECK]
    assert host.count(RELOAD) == 1
    # nginx's old workers may still send to blue by its address: they finish, then blue stops.
    assert host.commands[-3:-1] == [DRAIN_WAIT, STOP_BLUE_AFTER_DRAIN] and not host.ran(RETIRE_BLUE)
    assert "nginx sends to green: upstream.inc changed, nginx reloaded" in said


def test_a_release_without_a_socket_is_switched_to_by_address_and_a_reload():
    """A rollback to a release from before the socket layout: its Gunicorn has no socket, so it
    answered when Docker said healthy, and is checked directly by its address."""
    host = FakeHost(make_plan(action="rollback"), way="address")
    runner, said = run_switch(make_plan(action="rollback"), host)
    runner.execute()
    assert host.commands[1:8] == [START_GREEN, GREEN_WAIT, GREEN_ADDRESS_QUERY, GREEN_DIRECT_CHECK,
                                  UPSTREAM_GREEN_ADDRESS, RELOAD, EDGE_CHECK]
    assert not host.ran(SWITCH_GREEN) and not host.ran(GREEN_SOCKET_CHECK)
    assert "nginx sends to green: upstream.inc changed, nginx reloaded" in said
    assert any(line.startswith("check /health/ on green directly: ") for line in said)


def test_pending_migrations_are_dumped_first_then_run_in_a_one_off_container():
    host = FakeHost(make_plan(), pending=["events.0002_add_place"])
    runner, said = run_switch(make_plan(), host)
    runner.execute()
    assert runner.pre_migration_dump == DUMP
    assert host.commands[host.commands.index(GREEN_WAIT):host.commands.index(SWITCH_GREEN) + 1] == [
        GREEN_WAIT, PG_DUMP, GREEN_MIGRATE, SWITCH_GREEN]
    assert not host.ran(GREEN_MIGRATION_STATE)      # the state printed while green started is used
    assert GREEN_MIGRATE == [
        "docker", "compose", "--project-name", "app-green", "--file", f"{RELEASE_DIR}/compose.yaml",
        "--env-file", f"{RELEASE_DIR}/release.env", "run", "--rm", "--no-deps", "app",
        "python", "manage.py", "migrate", "--noinput"]
    assert host.history() == expected_history(host, pre_migration_dump=DUMP)
    assert f"migrations pending: events.0002_add_place; database dumped to {DUMP}" in said


@pytest.mark.parametrize("query", [
    QUERY_REFUSED,
    dict(query_status=0, query_output="Traceback (most recent call last):"),
], ids=["query-failed", "no-state-line"])
def test_a_migration_state_that_could_not_be_read_while_starting_is_asked_again(query):
    """The query ran before the database or the app was ready: asked again once green answers."""
    host = FakeHost(make_plan(), pending=["events.0002_add_place"], query=query)
    runner, said = run_switch(make_plan(), host)
    runner.execute()
    assert host.commands[host.commands.index(GREEN_WAIT):host.commands.index(SWITCH_GREEN) + 1] == [
        GREEN_WAIT, GREEN_MIGRATION_STATE, PG_DUMP, GREEN_MIGRATE, SWITCH_GREEN]
    assert any(line.startswith("the migration state asked while green started is missing (exit status")
               and line.endswith("); asking again") for line in said)
    assert host.history()["result"] == "ok"


def test_a_rollback_reads_unknown_migrations_from_the_state_printed_while_starting():
    host = FakeHost(make_plan(action="rollback"), unknown=["events.0003_add_place"])
    runner, said = run_switch(make_plan(action="rollback"), host)
    runner.execute()
    assert host.commands[1:4] == [START_GREEN, GREEN_WAIT, SWITCH_GREEN]
    assert any("events.0003_add_place" in line and line.startswith("warning") for line in said)


@pytest.mark.parametrize("failing, step, options", [
    (START_GREEN, "start green", {}),
    (GREEN_WAIT, "start green", {}),
    (GREEN_ADDRESS_QUERY, "check /health/ on green directly", {"way": "address"}),
    (GREEN_MIGRATION_STATE, "migrations", {"query": QUERY_REFUSED}),
    (SWITCH_GREEN, "switch nginx to green", {}),
], ids=["up", "wait", "address", "migration-state", "switch"])
def test_a_failure_before_the_switch_leaves_the_old_colour_serving(failing, step, options):
    host = FakeHost(make_plan(), fail=[failing], **options)
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed) as failure:
        runner.execute()
    message = str(failure.value)
    assert f"failed at '{step}" in message
    assert message.endswith("v1-def (blue) is still serving")
    assert "for this reason" in message
    # The failing command, then: live.sock and upstream.inc back on blue, green's logs, green stopped.
    undo_starts = host.commands.index(failing) + 1
    assert host.commands[undo_starts:undo_starts + 4] == [BLUE_SOCKET_CHECK, SWITCH_BLUE, GREEN_LOGS, STOP_GREEN]
    assert not host.ran(RELOAD)
    assert not host.ran(STOP_BLUE_AFTER_DRAIN) and not host.ran(RETIRE_BLUE)
    assert not host.ran(LINKS)
    assert host.history()["result"] == "failed" and step in host.history()["error"]
    assert history_entry(host.commands[-1]) is not None     # the lock released last


RUNC_RESET = ("Container app-green-app-1  Starting\nError response from daemon: failed to create task for "
              "container: failed to create shim task: OCI runtime create failed: runc create failed: unable "
              "to start container process: waiting for init preliminary setup: read init-p: connection "
              "reset by peer: unknown")


def test_a_runtime_that_fails_to_create_the_container_once_is_asked_again():
    host = FakeHost(make_plan())
    host.answer(START_GREEN, (False, RUNC_RESET), (True, ""))
    runner, said = run_switch(make_plan(), host)
    runner.execute()
    assert host.commands[1:4] == [START_GREEN, START_GREEN, GREEN_WAIT]
    assert any("failed to create app-green-app-1" in line and "trying once more" in line for line in said)
    assert host.history()["result"] == "ok"


def test_a_runtime_that_fails_twice_leaves_the_old_colour_serving():
    host = FakeHost(make_plan())
    host.answer(START_GREEN, (False, RUNC_RESET))
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match=r"failed at 'start green.*read init-p.*v1-def \(blue\) is still serving"):
        runner.execute()
    assert host.count(START_GREEN) == 2
    assert host.commands[1:3] == [START_GREEN, START_GREEN]
    assert host.commands[-3:-1] == [GREEN_LOGS, STOP_GREEN]


def test_a_container_that_fails_for_its_own_reasons_is_not_started_twice():
    host = FakeHost(make_plan())
    host.answer(START_GREEN, (False, "Error response from daemon: pull access denied for timewarp"))
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match="pull access denied"):
        runner.execute()
    assert host.count(START_GREEN) == 1


def test_a_failed_migration_names_the_dump_taken_before_it():
    host = FakeHost(make_plan(), fail=[GREEN_MIGRATE], pending=["events.0002_fails"])
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match=f"pre-migration dump: {DUMP}"):
        runner.execute()
    assert host.commands.index(PG_DUMP) + 1 == host.commands.index(GREEN_MIGRATE)
    assert not host.ran(SWITCH_GREEN)


def test_an_unhealthy_new_colour_times_out_with_what_docker_says():
    """The wait gave up (its migration output, if any, is not shown): green goes, blue serves."""
    host = FakeHost(make_plan(), pending=["events.0002_add_place"])
    host.answer(GREEN_WAIT, NEVER_HEALTHY)
    runner, said = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed) as failure:
        runner.execute()
    assert str(failure.value) == (
        "deploy of v2-abc failed at 'start green with v2-abc and wait until it answers': app-green-app-1 not "
        "healthy within 5 s (Docker says: running starting); v1-def (blue) is still serving")
    assert host.commands[2:7] == [GREEN_WAIT, BLUE_SOCKET_CHECK, SWITCH_BLUE, GREEN_LOGS, STOP_GREEN]
    assert not host.ran(GREEN_ADDRESS_QUERY) and not host.ran(GREEN_MIGRATION_STATE) and not host.ran(PG_DUMP)


def test_a_new_colour_that_exits_fails_naming_its_status():
    host = FakeHost(make_plan())
    host.answer(GREEN_WAIT, (False, "app-green-app-1 exited\n"))
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match=r"wait until it answers': app-green-app-1 exited; v1-def \(blue\) is still "
                                           r"serving$"):
        runner.execute()
    assert host.count(GREEN_WAIT) == 1 and host.ran(STOP_GREEN)
    assert host.history()["error"].endswith("app-green-app-1 exited; v1-def (blue) is still serving")


def test_a_wait_that_prints_no_answer_line_fails_before_the_switch():
    host = FakeHost(make_plan())
    host.answer(GREEN_WAIT, (True, "something else\n"))
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match="no answer from the wait on app-green-app-1"):
        runner.execute()
    assert not host.ran(SWITCH_GREEN) and host.ran(STOP_GREEN)


def test_a_failed_check_after_the_switch_switches_back():
    host = FakeHost(make_plan(), fail=[EDGE_CHECK])
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match="switched back: v1-def \\(blue\\) is still serving"):
        runner.execute()
    after_check = host.commands.index(EDGE_CHECK) + 1
    assert host.commands[after_check:after_check + 4] == [BLUE_SOCKET_CHECK, SWITCH_BLUE, GREEN_LOGS, STOP_GREEN]
    assert not host.ran(RELOAD)
    assert not host.ran(STOP_BLUE_AFTER_DRAIN) and not host.ran(RETIRE_BLUE) and not host.ran(LINKS)


def test_a_failed_check_after_moving_from_the_reload_layout_reloads_back():
    """The live colour's release has no socket: back to its address, with a reload."""
    host = FakeHost(make_plan(), fail=[EDGE_CHECK, BLUE_SOCKET_CHECK])
    host.answer(SWITCH_GREEN, DIRECTIVE_CHANGED)
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match="switched back"):
        runner.execute()
    after_check = host.commands.index(EDGE_CHECK) + 1
    assert host.commands[after_check:after_check + 5] == [BLUE_SOCKET_CHECK, UPSTREAM_BLUE_ADDRESS, RELOAD,
                                                          GREEN_LOGS, STOP_GREEN]


def test_a_first_release_goes_to_blue_and_stops_nothing():
    plan = make_plan(live_colour=None, replaces=None)
    host = FakeHost(plan, pending=["events.0001_initial"])
    runner, _ = run_switch(plan, host)
    runner.execute()
    assert host.ran(switch.start_colour("blue", RELEASE_DIR, 63)) and not host.ran(START_GREEN)
    stops = [switch.stop_colour(colour, seconds) for colour in switch.COLOURS for seconds in (3, 10)]
    assert not [command for command in host.commands if command in stops]
    assert not host.ran(DRAIN_WAIT) and not [command for command in host.commands if "retire-colour" in command]
    # `current` is the only release link pointed (nothing to be `previous`).
    assert [command for command in host.commands if command[:2] == ["sh", "-c"] and "ln -sfn" in command[2]] == [
        SWITCH_BLUE, switch.one_after_another(LINK_CURRENT)]
    assert host.history()["colour"] == "blue"


def test_a_rollback_runs_no_migration_and_warns_about_unknown_ones():
    host = FakeHost(make_plan(action="rollback"), unknown=["events.0003_add_place"], query=QUERY_REFUSED)
    runner, said = run_switch(make_plan(action="rollback"), host)
    runner.execute()
    assert host.commands.index(GREEN_MIGRATION_STATE) + 1 == host.commands.index(SWITCH_GREEN)
    assert not host.ran(GREEN_MIGRATE) and not host.ran(PG_DUMP)
    assert any("events.0003_add_place" in line and line.startswith("warning") for line in said)
    assert host.history() == expected_history(host, action="rollback")


HOLDER = '{"who": "alice", "from": "laptop", "pid": 4, "started_at": "t"}'


def test_a_held_lock_refuses_before_anything_starts():
    host = FakeHost(make_plan())
    host.answer(ACQUIRE, LOCK_EXISTS)
    host.answer(INSPECT, (True, f"12 {HOLDER}\n"))
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(lock.LockHeld, match=r"alice from laptop \(pid 4, started t, 12 s ago\)"):
        runner.execute()
    assert host.commands == [ACQUIRE, INSPECT]


def test_a_stale_lock_is_broken_with_a_warning():
    host = FakeHost(make_plan(lock_ttl_seconds=900))
    host.answer(ACQUIRE, LOCK_EXISTS, (True, ""))
    host.answer(INSPECT, (True, f"1000 {HOLDER}\n"))
    runner, said = run_switch(make_plan(lock_ttl_seconds=900), host)
    runner.execute()
    assert any(line.startswith("warning: breaking the deploy lock (stale) held by alice") for line in said)
    assert host.commands[:5] == [ACQUIRE, INSPECT, ["rm", "-rf", "/data/deploy.lock"], ACQUIRE, START_GREEN]


def test_the_fake_host_refuses_a_command_no_step_runs():
    """What makes the tests above exact: a near miss of a known command is not answered."""
    host = FakeHost(make_plan())
    with pytest.raises(AssertionError, match="no step of it should"):
        host(switch.stop_colour("blue", 30))


def test_command_builders():
    assert switch.stop_colour("blue", 30) == [
        "docker", "compose", "--project-name", "app-blue", "down", "--timeout", "30"]
    assert switch.start_colour("green", "/data/releases/r", 90) == [
        "sh", "-c", "flock --wait \"$1\" /run/lock/onehost-retire-app-green.lock true || { echo \"app-green was "
                    "still being retired after $1 s (see retire.log in the release it ran); stop it with: docker "
                    "compose --project-name app-green down\" >&2; exit 1; }; shift; exec \"$@\"",
        "start-colour", "90",
        "docker", "compose", "--project-name", "app-green",
        "--file", "/data/releases/r/compose.yaml", "--env-file", "/data/releases/r/release.env",
        "up", "--detach", "--remove-orphans"]
    assert switch.retire_colour("blue", 30, "/data/releases/r/retire.log") == [
        "sh", "-c", 'exec 9> "$1" && flock 9 && log=$2 && shift 2 && exec setsid --fork "$@" > "$log" 2>&1 < /dev/null',
        "retire-colour", "/run/lock/onehost-retire-app-blue.lock", "/data/releases/r/retire.log",
        "docker", "compose", "--project-name", "app-blue", "down", "--timeout", "30"]
    assert switch.one_after_another(["ln", "-s", "a b", "c"], ["true"]) == ["sh", "-c", "ln -s 'a b' c && true"]
    assert switch.write_upstream("/data/stacks/edge/conf.d", "app-green-app-1", 8000) == [
        "sh", "-c", "printf '%s' \"$1\" > /data/stacks/edge/conf.d/upstream.inc.partial && "
                    "mv -f /data/stacks/edge/conf.d/upstream.inc.partial /data/stacks/edge/conf.d/upstream.inc",
        "write-upstream", "set $app_upstream http://app-green-app-1:8000;\n"]
    assert switch.socket_health_check("/data/stacks/edge/conf.d/sockets", "blue", "api.example.com") == [
        "curl", "--fail", "--silent", "--show-error", "--max-time", "5",
        "--unix-socket", "/data/stacks/edge/conf.d/sockets/app-blue.sock",
        "--header", "Host: api.example.com", "http://localhost/health/"]
    # Relative: the link resolves the same on the host and in nginx's mount.
    assert switch.point_live_socket("/s", "green") == [
        "sh", "-c", "ln -sfn app-green.sock /s/live.sock.partial && mv -Tf /s/live.sock.partial /s/live.sock"]
    assert switch.replace_upstream("/c", "# comment\nset $x y;\n") == [
        "sh", "-c", "before=$(tail -n 1 /c/upstream.inc 2>/dev/null); "
                    "printf '%s' \"$1\" > /c/upstream.inc.partial && mv -f /c/upstream.inc.partial /c/upstream.inc && "
                    "if [ \"$before\" != \"$(tail -n 1 /c/upstream.inc)\" ]; then echo 'directive changed'; fi",
        "replace-upstream", "# comment\nset $x y;\n"]
    assert switch.socket_upstream("green", 8000) == (
        "# live: http://app-green-app-1:8000, reached through sockets/live.sock -> app-green.sock "
        "(moved by the switch, no reload)\n"
        "set $app_upstream http://unix:/etc/nginx/conf.d/sockets/live.sock:;\n")
    assert switch.point_link("/data/releases/current", "/data/releases/r") == [
        "sh", "-c", "ln -sfn /data/releases/r /data/releases/current.partial && "
                    "mv -Tf /data/releases/current.partial /data/releases/current"]
    assert switch.pg_dump("/data/stacks/data", "tw", "twdb", "/data/backups/x.dump") == [
        "sh", "-c", "umask 077 && mkdir -p /data/backups && docker compose --project-name data --file "
                    "/data/stacks/data/compose.yaml --env-file /data/stacks/data/stack.env exec -T "
                    "postgres pg_dump --format=custom --username tw --dbname twdb > "
                    "/data/backups/x.dump.partial && mv /data/backups/x.dump.partial /data/backups/x.dump"]
    assert switch.wait_until_answers("green", "/s", "api.example.com", 120) == [
        "sh", "-c", switch.WAIT_UNTIL_ANSWERS, "wait-until-answers", "app-green-app-1", "120",
        switch.MIGRATION_STATE,
        "curl", "--fail", "--silent", "--show-error", "--max-time", "5", "--unix-socket", "/s/app-green.sock",
        "--header", "Host: api.example.com", "http://localhost/health/"]
    assert switch.STATUS_FORMAT == "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
    assert f"docker inspect --format '{switch.STATUS_FORMAT}' \"$container\"" in switch.WAIT_UNTIL_ANSWERS
    assert switch.container_address("green", "onehost") == [
        "docker", "inspect", "--format", '{{(index .NetworkSettings.Networks "onehost").IPAddress}}',
        "app-green-app-1"]
    assert switch.migration_state("blue", "/data/releases/r") == [
        "docker", "compose", "--project-name", "app-blue", "--file", "/data/releases/r/compose.yaml",
        "--env-file", "/data/releases/r/release.env", "exec", "-T", "app", "python", "manage.py", "shell",
        "--command", switch.MIGRATION_STATE]
    assert switch.nginx_shutting_down_workers() == [
        "sh", "-c", "grep -ls 'worker process is shutting dow[n]' /proc/[0-9]*/cmdline 2>/dev/null | wc -l"]
    assert switch.colour_logs("blue") == ["docker", "logs", "--tail", "15", "app-blue-app-1"]
    assert switch.append_history("/data/history.jsonl", {"b": 1, "a": "x"}) == [
        "sh", "-c", "printf '%s\\n' \"$1\" >> /data/history.jsonl", "append-history", '{"a": "x", "b": 1}']
    assert lock.inspect("/data/deploy.lock") == [
        "sh", "-c", "if [ -d /data/deploy.lock ]; then echo \"$(( $(date +%s) - $(stat -c %Y /data/deploy.lock) ))\" "
                    "\"$(cat /data/deploy.lock/owner.json 2>/dev/null | tr -d '\\n')\"; fi"]
    assert lock.break_lock("/data/deploy.lock") == ["rm", "-rf", "/data/deploy.lock"]


def test_the_wait_output_is_read_as_how_the_colour_answered_and_its_migration_state():
    state = {"pending": ["events.0002_add_place"], "unknown": []}
    assert switch.parse_answered(answered("socket", state)[1]) == switch.Answered(
        "socket", state, f"exit status 0: noise / ONEHOST_MIGRATIONS {json.dumps(state)}")
    by_address = switch.parse_answered(answered("address", **QUERY_REFUSED)[1])
    assert not by_address.on_socket and by_address.migration_state is None
    assert by_address.migration_query == "exit status 1: django.db.utils.OperationalError: connection refused"
    assert switch.parse_answered("ONEHOST_ANSWERED socket\n") == switch.Answered(
        "socket", None, "no migration query output")
    assert switch.parse_answered("app-green-app-1 exited\n") is None


def test_the_live_colour_is_read_back_from_upstream_inc():
    assert switch.colour_in_upstream(switch.upstream_line(switch.container("green"), 8000)) == "green"
    assert switch.colour_in_upstream(switch.socket_upstream("blue", 8000)) == "blue"
    assert switch.colour_in_upstream("set $app_upstream http://app:8000;") is None
    assert switch.other("blue") == "green" and switch.other("green") == "blue"


# --- the retire, run for real with a stand-in for docker ---------------------------------------

FAKE_DOCKER = """#!/bin/sh
echo "start $*" >> "$CALLS"
case "$*" in *" down "*)
    # A stop that lasts until the test opens the gate (at most 20 s).
    i=0; while [ ! -e "$GATE" ] && [ "$i" -lt 400 ]; do sleep 0.05; i=$((i + 1)); done;;
esac
echo "end $*" >> "$CALLS"
"""


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """`docker` that logs its calls and brings a project down only once the gate file exists;
    locks in tmp_path. Yields (run, calls, gate); the gate is opened at the end whatever happened."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setattr(switch, "RETIRE_LOCK_DIR", str(tmp_path))
    calls, gate = tmp_path / "calls", tmp_path / "gate"
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "GATE": str(gate)}

    def run(command):
        return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=30)
    yield run, calls, gate
    gate.touch()


def called(calls) -> list[str]:
    """The stand-in's log so far (none yet when the background stop has not begun)."""
    return calls.read_text().splitlines() if calls.exists() else []


def ended_down(calls) -> bool:
    return any(line.startswith("end ") and " down " in line for line in called(calls))


def test_a_retire_returns_at_once_and_the_next_start_of_the_colour_waits_for_it(fake_docker, tmp_path):
    run, calls, gate = fake_docker
    log = tmp_path / "retire.log"
    assert run(switch.retire_colour("blue", 30, str(log))).returncode == 0
    assert not ended_down(calls)                     # returned while the stop still runs
    gate.touch()
    assert run(switch.start_colour("blue", "/data/releases/r", 10)).returncode == 0
    lines = calls.read_text().splitlines()
    assert [line.split()[0] + " " + line.split()[-3] for line in lines] == [
        "start down", "end down", "start up", "end up"], lines
    assert log.exists()


def test_a_start_that_waits_too_long_for_a_retire_fails_naming_the_fix(fake_docker, tmp_path):
    run, calls, _ = fake_docker
    assert run(switch.retire_colour("green", 30, str(tmp_path / "retire.log"))).returncode == 0
    result = run(switch.start_colour("green", "/data/releases/r", 0))
    assert result.returncode == 1
    assert result.stderr.strip() == ("app-green was still being retired after 0 s (see retire.log in the release it "
                                     "ran); stop it with: docker compose --project-name app-green down")
    assert not any(" up " in line for line in called(calls))


def test_a_start_with_no_retire_going_on_starts_at_once(fake_docker):
    run, calls, _ = fake_docker
    assert run(switch.start_colour("green", "/data/releases/r", 0)).returncode == 0
    assert calls.read_text().splitlines()[0].startswith("start compose --project-name app-green")


def test_waiting_for_retires_passes_at_once_without_one_and_waits_for_one(fake_docker, tmp_path):
    run, calls, gate = fake_docker
    assert run(switch.wait_for_retires(5)).returncode == 0          # no lock file yet
    assert run(switch.retire_colour("blue", 30, str(tmp_path / "retire.log"))).returncode == 0
    assert run(switch.wait_for_retires(0)).returncode == 1          # blue is still stopping
    gate.touch()
    assert run(switch.wait_for_retires(10)).returncode == 0
    assert ended_down(calls)
