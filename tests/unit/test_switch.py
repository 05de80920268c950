"""The blue/green switch, run against a fake host: what it runs, in which order, and how it undoes."""

import json

import pytest

from onehost import lock, switch
from onehost.lock import LockOwner
from onehost.switch import HostLayout, Switch, SwitchFailed, SwitchPlan

LAYOUT = HostLayout(data_dir="/data", network="onehost", app_port=8000, server_name="api.example.com")
OWNER = LockOwner(who="ci", origin="runner", pid=7, started_at="2026-11-25T10:00:00+00:00", token="tok")


def make_plan(**changes) -> SwitchPlan:
    values = dict(action="deploy", release_id="v2-abc", release_dir="/data/releases/v2-abc",
                  live_colour="blue", replaces="/data/releases/v1-def", image="timewarp:v2",
                  host_image="timewarp:id-0123456789ab", image_id="sha256:0123456789ab",
                  git_commit="c0ffee", layout=LAYOUT, db_user="timewarp", db_name="timewarp",
                  health_timeout_seconds=5, drain_seconds=3)
    values.update(changes)
    return SwitchPlan(**values)


class FakeHost:
    """Answers commands like a healthy host; `fail` names command fragments that fail."""

    def __init__(self, fail=(), pending=(), unknown=(), lock_output=""):
        self.commands: list[list[str]] = []
        self.fail = set(fail)
        self.migrations = {"pending": list(pending), "unknown": list(unknown)}
        self.lock_output = lock_output
        self.now = 0.0

    def __call__(self, command):
        self.commands.append(command)
        text = " ".join(command)
        if any(fragment in text for fragment in self.fail):
            return False, "something broke\nfor this reason"
        if "acquire-lock" in command and self.lock_output:
            return False, "mkdir: cannot create directory: File exists"
        if command[:2] == ["sh", "-c"] and "stat -c %Y" in text:
            return True, self.lock_output
        if "{{.State.Status}}" in text:
            return True, "running healthy"
        if "IPAddress" in text:
            return True, "172.18.0.9"
        if "shell" in command and "--command" in command:
            return True, "noise\nONEHOST_MIGRATIONS " + json.dumps(self.migrations)
        if "shutting dow[n]" in text:
            return True, "0"
        return True, ""

    def ran(self, *fragments) -> bool:
        return any(all(fragment in " ".join(command) for fragment in fragments)
                   for command in self.commands)

    def history(self) -> dict:
        [entry] = [command[-1] for command in self.commands if "append-history" in command]
        return json.loads(entry)


def run_switch(plan, host, run_command=None):
    """A Switch on the fake host, with a clock that moves 0.1 s a call and no real pauses."""
    said = []

    def clock():
        host.now += 0.1
        return host.now

    runner = Switch(plan, run_command or host, say=said.append, owner=OWNER, clock=clock,
                    pause=lambda _: None)
    return runner, said


def test_a_deploy_starts_the_idle_colour_checks_it_then_switches_and_stops_the_old():
    host = FakeHost()
    runner, said = run_switch(make_plan(), host)
    runner.execute()
    order = [
        ("acquire-lock",),
        ("--project-name app-green", "up --detach"),
        ("{{.State.Status}}", "app-green-app-1"),
        ("curl", "http://172.18.0.9:8000/health/"),
        ("exec -T app python manage.py shell",),
        ("write-upstream", "http://app-green-app-1:8000"),
        ("nginx -s reload",),
        ("curl", "http://127.0.0.1/health/"),
        ("ln -sfn /data/releases/v1-def", "/data/releases/previous"),
        ("ln -sfn /data/releases/v2-abc", "/data/releases/current"),
        ("--project-name app-blue", "down --timeout 3"),
        ("append-history",),
        ("grep -qs tok",),
    ]
    positions = []
    for fragments in order:
        matches = [index for index, command in enumerate(host.commands)
                   if all(fragment in " ".join(command) for fragment in fragments)]
        assert matches, f"never ran {fragments}"
        positions.append(matches[0])
    assert positions == sorted(positions)
    assert not host.ran("pg_dump") and not host.ran("migrate --noinput")
    assert "migrations: none pending" in said
    assert host.history()["result"] == "ok" and host.history()["colour"] == "green"


def test_pending_migrations_are_dumped_first_then_run_in_a_one_off_container():
    host = FakeHost(pending=["events.0002_add_place"])
    runner, said = run_switch(make_plan(), host)
    runner.execute()
    dump = runner.pre_migration_dump
    assert dump.startswith("/data/backups/pre-migrate-v2-abc-") and dump.endswith(".dump")
    dump_at = next(i for i, c in enumerate(host.commands) if "pg_dump" in " ".join(c))
    migrate_at = next(i for i, c in enumerate(host.commands) if "migrate --noinput" in " ".join(c))
    switch_at = next(i for i, c in enumerate(host.commands) if "write-upstream" in c)
    assert dump_at < migrate_at < switch_at
    assert host.ran("--project-name app-green", "run --rm --no-deps app python manage.py migrate")
    assert host.history()["pre_migration_dump"] == dump


@pytest.mark.parametrize("failing, step", [
    ("up --detach", "start green"),
    ("IPAddress", "check /health/ on green directly"),
    ("manage.py shell", "migrations"),
    ("nginx -s reload", "switch nginx to green"),
])
def test_a_failure_before_the_switch_leaves_the_old_colour_serving(failing, step):
    host = FakeHost(fail=[failing])
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed) as failure:
        runner.execute()
    message = str(failure.value)
    assert f"failed at '{step}" in message
    assert message.endswith("v1-def (blue) is still serving")
    assert "for this reason" in message
    assert host.ran("--project-name app-green", "down")
    assert not host.ran("--project-name app-blue", "down")
    assert not host.ran("/data/releases/current")
    # upstream.inc names blue at the end, whatever was written before.
    upstream_writes = [command[-1] for command in host.commands if "write-upstream" in command]
    assert not upstream_writes or "app-blue-app-1" in upstream_writes[-1]
    assert host.history()["result"] == "failed" and step in host.history()["error"]
    assert host.ran("grep -qs tok")


RUNC_RESET = ("Container app-green-app-1  Starting\nError response from daemon: failed to create task for "
              "container: failed to create shim task: OCI runtime create failed: runc create failed: unable "
              "to start container process: waiting for init preliminary setup: read init-p: connection "
              "reset by peer: unknown")


def host_whose_up_fails(times: int, output: str):
    """A healthy host whose first `times` `compose up` calls fail with `output`."""
    host = FakeHost()
    failures = iter(range(times))
    original = host.__call__

    def run(command):
        if "up" in command and "--detach" in command and next(failures, None) is not None:
            host.commands.append(command)
            return False, output
        return original(command)

    return host, run


def ups(host) -> int:
    return sum(1 for command in host.commands if "up" in command and "--detach" in command)


def test_a_runtime_that_fails_to_create_the_container_once_is_asked_again():
    host, run = host_whose_up_fails(1, RUNC_RESET)
    runner, said = run_switch(make_plan(), host, run)
    runner.execute()
    assert ups(host) == 2
    assert any("failed to create app-green-app-1" in line and "trying once more" in line for line in said)
    assert host.history()["result"] == "ok"


def test_a_runtime_that_fails_twice_leaves_the_old_colour_serving():
    host, run = host_whose_up_fails(2, RUNC_RESET)
    runner, _ = run_switch(make_plan(), host, run)
    with pytest.raises(SwitchFailed, match=r"failed at 'start green.*read init-p.*v1-def \(blue\) is still serving"):
        runner.execute()
    assert ups(host) == 2


def test_a_container_that_fails_for_its_own_reasons_is_not_started_twice():
    host, run = host_whose_up_fails(1, "Error response from daemon: pull access denied for timewarp")
    runner, _ = run_switch(make_plan(), host, run)
    with pytest.raises(SwitchFailed, match="pull access denied"):
        runner.execute()
    assert ups(host) == 1


def test_a_failed_migration_names_the_dump_taken_before_it():
    host = FakeHost(fail=["migrate --noinput"], pending=["events.0002_fails"])
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match=r"pre-migration dump: /data/backups/pre-migrate-v2-abc-"):
        runner.execute()
    assert host.ran("pg_dump")


def test_an_unhealthy_new_colour_times_out_with_what_docker_says():
    host = FakeHost()
    original = host.__call__

    def starting(command):
        if "{{.State.Status}}" in " ".join(command):
            host.commands.append(command)
            return True, "running starting"
        return original(command)

    runner, said = run_switch(make_plan(), host, starting)
    with pytest.raises(SwitchFailed, match=r"not healthy within 5 s \(Docker says: running starting\)"):
        runner.execute()


def test_a_failed_check_after_the_switch_switches_back():
    host = FakeHost(fail=["http://127.0.0.1/health/"])
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(SwitchFailed, match="switched back: v1-def \\(blue\\) is still serving"):
        runner.execute()
    upstream_writes = [command[-1] for command in host.commands if "write-upstream" in command]
    assert ["app-green-app-1" in w for w in upstream_writes] == [True, False]
    reloads = [c for c in host.commands if "nginx -s reload" in " ".join(c)]
    assert len(reloads) == 2
    assert host.ran("--project-name app-green", "down")
    assert not host.ran("--project-name app-blue", "down")


def test_a_first_release_goes_to_blue_and_stops_nothing():
    host = FakeHost(pending=["events.0001_initial"])
    runner, _ = run_switch(make_plan(live_colour=None, replaces=None), host)
    runner.execute()
    assert host.ran("--project-name app-blue", "up --detach")
    assert not host.ran("down")
    assert not host.ran("/data/releases/previous")


def test_a_rollback_runs_no_migration_and_warns_about_unknown_ones():
    host = FakeHost(unknown=["events.0003_add_place"])
    runner, said = run_switch(make_plan(action="rollback"), host)
    runner.execute()
    assert not host.ran("migrate --noinput") and not host.ran("pg_dump")
    assert any("events.0003_add_place" in line and line.startswith("warning") for line in said)
    assert host.history()["action"] == "rollback"


def test_a_held_lock_refuses_before_anything_starts():
    host = FakeHost(lock_output='12 {"who": "alice", "from": "laptop", "pid": 4, "started_at": "t"}')
    runner, _ = run_switch(make_plan(), host)
    with pytest.raises(lock.LockHeld, match=r"alice from laptop \(pid 4, started t, 12 s ago\)"):
        runner.execute()
    assert not host.ran("up --detach") and not host.ran("append-history")


def test_a_stale_lock_is_broken_with_a_warning():
    host = FakeHost(lock_output='1000 {"who": "alice", "from": "laptop", "pid": 4, "started_at": "t"}')
    calls = {"acquire": 0}
    original = host.__call__

    def second_acquire_succeeds(command):
        if "acquire-lock" in command:
            calls["acquire"] += 1
            if calls["acquire"] > 1:
                host.lock_output = ""
        return original(command)

    runner, said = run_switch(make_plan(lock_ttl_seconds=900), host, second_acquire_succeeds)
    runner.execute()
    assert any(line.startswith("warning: breaking the deploy lock (stale) held by alice") for line in said)
    assert host.ran("rm -rf /data/deploy.lock")


def test_command_builders():
    assert switch.stop_colour("blue", 30) == [
        "docker", "compose", "--project-name", "app-blue", "down", "--timeout", "30"]
    assert switch.start_colour("green", "/data/releases/r") == [
        "docker", "compose", "--project-name", "app-green", "--file", "/data/releases/r/compose.yaml",
        "--env-file", "/data/releases/r/release.env", "up", "--detach", "--remove-orphans"]
    assert switch.write_upstream("/data/stacks/edge/conf.d", "app-green-app-1", 8000) == [
        "sh", "-c", "printf '%s' \"$1\" > /data/stacks/edge/conf.d/upstream.inc.partial && "
                    "mv -f /data/stacks/edge/conf.d/upstream.inc.partial /data/stacks/edge/conf.d/upstream.inc",
        "write-upstream", "set $app_upstream http://app-green-app-1:8000;\n"]
    assert switch.point_link("/data/releases/current", "/data/releases/r") == [
        "sh", "-c", "ln -sfn /data/releases/r /data/releases/current.partial && "
                    "mv -Tf /data/releases/current.partial /data/releases/current"]
    assert switch.pg_dump("/data/stacks/data", "tw", "twdb", "/data/backups/x.dump") == [
        "sh", "-c", "umask 077 && mkdir -p /data/backups && docker compose --project-name data --file "
                    "/data/stacks/data/compose.yaml --env-file /data/stacks/data/stack.env exec -T "
                    "postgres pg_dump --format=custom --username tw --dbname twdb > "
                    "/data/backups/x.dump.partial && mv /data/backups/x.dump.partial /data/backups/x.dump"]


def test_the_live_colour_is_read_back_from_upstream_inc():
    assert switch.colour_in_upstream(switch.upstream_line(switch.container("green"), 8000)) == "green"
    assert switch.colour_in_upstream("set $app_upstream http://app:8000;") is None
    assert switch.other("blue") == "green" and switch.other("green") == "blue"
