"""`onehost run`, `shell` and `dbshell`: the commands as exact argument lists, and the host script
(checks, watcher, cleanup) run by a local sh against processes that stand in for the ssh session."""

import os
import shlex
import shutil
import signal
import subprocess

import pytest

from onehost.cli import main
from onehost.commands import lock, one_off
from onehost.commands.live import NO_RELEASE_EXIT, layout_at, no_release_message
from onehost.local.instance import wait_until
from onehost.remote import one_off as remote_one_off
from onehost.remote.session import HostSession

pytestmark = pytest.mark.unit

LAYOUT = layout_at()
OWNER = lock.LockOwner(who="ci", origin="runner", pid=7, started_at="2026-11-25T10:00:00+00:00", token="tok")
DATA_COMPOSE = ["docker", "compose", "--project-name", "data", "--file", "/data/stacks/data/compose.yaml",
                "--env-file", "/data/stacks/data/stack.env"]
STATIC = {"ONEHOST_HOSTS": "admin@web-1.example.com"}


# --- builders -----------------------------------------------------------------------------

def test_run_is_a_removed_named_one_off_of_the_releases_app_service_without_a_tty():
    assert one_off.app_run("onehost-run-abc", ["python", "manage.py", "createsuperuser", "--noinput"],
                           terminal=False, environment={"DJANGO_SUPERUSER_USERNAME": "ada", "X": "a b"}) == [
        "docker", "compose", "--project-name", "app-oneoff", "--file", "compose.yaml", "--env-file", "release.env",
        "run", "--rm", "--no-deps", "--name", "onehost-run-abc", "-T",
        "--env", "DJANGO_SUPERUSER_USERNAME=ada", "--env", "X=a b",
        "app", "python", "manage.py", "createsuperuser", "--noinput"]


def test_an_interactive_run_leaves_the_tty_to_compose():
    assert one_off.app_run("onehost-run-abc", ["python", "manage.py", "shell"], terminal=True) == [
        "docker", "compose", "--project-name", "app-oneoff", "--file", "compose.yaml", "--env-file", "release.env",
        "run", "--rm", "--no-deps", "--name", "onehost-run-abc", "app", "python", "manage.py", "shell"]


def test_run_removes_its_container_by_name():
    assert one_off.remove_container("onehost-run-abc") == ["docker", "rm", "--force", "onehost-run-abc"]


def test_psql_runs_in_the_postgres_container_as_the_stacks_user_named_for_cleanup():
    assert one_off.psql(LAYOUT, "onehost-dbshell-abc", ["--command", "select 1"], terminal=False) == [
        *DATA_COMPOSE, "exec", "-T", "--env", "PGAPPNAME=onehost-dbshell-abc", "postgres", "sh", "-c",
        'exec psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --set ON_ERROR_STOP=1 "$@"',
        "psql", "--command", "select 1"]
    assert one_off.psql(LAYOUT, "onehost-dbshell-abc", [], terminal=True)[len(DATA_COMPOSE):][:3] == [
        "exec", "--env", "PGAPPNAME=onehost-dbshell-abc"]


def test_the_psql_cleanup_ends_that_session_only():
    assert one_off.end_psql_session(LAYOUT, "onehost-dbshell-abc") == [
        *DATA_COMPOSE, "exec", "-T", "postgres", "sh", "-c",
        'exec psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --quiet --tuples-only --command "$1"',
        "end-session",
        "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'onehost-dbshell-abc'"]
    with pytest.raises(one_off.BadInput):
        one_off.end_psql_session(LAYOUT, "x' or true --")


def test_a_held_lock_is_kept_fresh_only_while_it_is_ours():
    assert one_off.keep_lock_fresh("/data/deploy.lock", OWNER) == [
        "sh", "-c", "if grep -qs tok /data/deploy.lock/owner.json; then touch /data/deploy.lock; fi"]


def test_run_script_checks_the_release_then_runs_in_its_directory_and_cleans_up():
    script = one_off.run_script(LAYOUT, "web-1", "onehost-run-abc", ["true"], terminal=False, owner=OWNER)
    lines = script.splitlines()
    assert lines[:2] == [one_off.require_release(LAYOUT, "web-1"), 'cd "$release" || exit 1']
    cleanup = ("docker rm --force onehost-run-abc >/dev/null 2>&1; "
               f"{shlex.join(lock.release('/data/deploy.lock', OWNER))} >/dev/null 2>&1")
    assert lines[-5:] == [shlex.join(one_off.app_run("onehost-run-abc", ["true"], terminal=False)),
                          "status=$?", 'kill "$watcher" 2>/dev/null', cleanup, 'exit "$status"']
    assert shlex.quote(cleanup) in script
    assert shlex.quote(shlex.join(one_off.keep_lock_fresh("/data/deploy.lock", OWNER))) in script


def test_names_are_unique():
    assert one_off.new_name(one_off.RUN_PREFIX, "abc") == "onehost-run-abc"
    assert len({one_off.new_name(one_off.RUN_PREFIX) for _ in range(100)}) == 100


# --- inputs -------------------------------------------------------------------------------

def test_the_command_comes_after_the_double_dash():
    assert one_off.command_given(["--", "python", "manage.py", "shell"]) == ["python", "manage.py", "shell"]
    assert one_off.command_given(["ls", "--", "-l"]) == ["ls", "--", "-l"]


@pytest.mark.parametrize("arguments", [[], ["--"]])
def test_no_command_is_refused(arguments):
    with pytest.raises(one_off.BadInput, match="^no command given: put it after --, e.g. onehost run -- "):
        one_off.command_given(arguments)


def test_env_options_are_key_value_pairs():
    assert one_off.parse_environment(["A=1", "B=x=y", "A=2", "EMPTY="]) == {"A": "2", "B": "x=y", "EMPTY": ""}
    for bad in ("NOVALUE", "=x", "1A=x", "A B=x"):
        with pytest.raises(one_off.BadInput, match="is not KEY=VALUE"):
            one_off.parse_environment([bad])


# --- the console commands ------------------------------------------------------------------

@pytest.fixture
def executed(monkeypatch):
    """What the command would become (os.execvp), without becoming it."""
    calls = []

    def fake_exec(program, arguments):
        calls.append(arguments)
        raise SystemExit(0)
    monkeypatch.setattr(remote_one_off.os, "execvp", fake_exec)
    for name in ("run", "dbshell"):
        monkeypatch.setattr(f"onehost.cli.{name}.attached_to_terminal", lambda: False)
    monkeypatch.setenv("ONEHOST_HOSTS", STATIC["ONEHOST_HOSTS"])
    return calls


def script_of(arguments: list[str]) -> str:
    host = HostSession("web-1.example.com", {"ssh_hostname": "web-1.example.com", "ssh_user": "admin"})
    assert arguments[:-1] == host.command("true")[:-1]
    return shlex.split(arguments[-1])[-1]   # `sudo sh -c SCRIPT`


def test_run_becomes_ssh_running_the_script(executed):
    with pytest.raises(SystemExit):
        main(["run", "--env", "A=1", "--", "python", "manage.py", "check"])
    [arguments] = executed
    script = script_of(arguments)
    name = script.split("--name ", 1)[1].split()[0]
    assert name.startswith(one_off.RUN_PREFIX)
    assert script == one_off.run_script(LAYOUT, "web-1.example.com", name, ["python", "manage.py", "check"],
                                        terminal=False, environment={"A": "1"})


def test_shell_is_run_of_manage_py_shell(executed):
    with pytest.raises(SystemExit):
        main(["shell", "--", "--command", "print(1)"])
    assert "app python manage.py shell --command 'print(1)'" in script_of(executed[0])


def test_dbshell_passes_psql_arguments(executed):
    with pytest.raises(SystemExit):
        main(["dbshell", "--", "--command", "select 1"])
    script = script_of(executed[0])
    name = script.split("PGAPPNAME=", 1)[1].split()[0]
    assert script == one_off.dbshell_script(LAYOUT, "web-1.example.com", name, ["--command", "select 1"],
                                            terminal=False)


def test_run_without_a_command_is_one_line_and_touches_no_host(executed, monkeypatch, capsys):
    monkeypatch.setattr("onehost.cli.run.one_session", lambda host: pytest.fail("reached for a host"))
    assert main(["run", "--"]) == 1
    assert capsys.readouterr().err == ("error: no command given: put it after --, e.g. "
                                       "onehost run -- python manage.py migrate --check\n")
    assert executed == []


def test_a_bad_env_option_touches_no_host(executed, monkeypatch, capsys):
    monkeypatch.setattr("onehost.cli.run.one_session", lambda host: pytest.fail("reached for a host"))
    assert main(["run", "--env", "nope", "--", "true"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("command", ["run", "shell", "dbshell"])
def test_help_says_what_where_and_how(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "Where it runs:" in text and "--host" in text
    assert f"onehost {command}" in text   # examples


# --- the host script, run here by sh ---------------------------------------------------------

@pytest.fixture
def spawned():
    """Processes started by a test, each in a group of its own; all killed at its end."""
    processes = []

    def spawn(arguments, **options):
        process = subprocess.Popen(arguments, start_new_session=True, **options)
        processes.append(process)
        return process
    yield spawn
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def script_with_marker(tmp_path, command: str, *, session: str = '""', refresh: str | None = None) -> str:
    marker = tmp_path / "cleaned"
    cleanup = [["sh", "-c", f"echo cleaned >> {marker}"]]
    return one_off.attached_script(["sh", "-c", command], cleanup, session=session,
                                   refresh=["sh", "-c", refresh] if refresh else None)


def watchers(tmp_path) -> list[int]:
    """The pids of this test's watchers (their cleanup names its tmp_path)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            arguments = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"onehost-watch" in arguments and any(str(tmp_path).encode() in part for part in arguments):
            found.append(int(entry))
    return found


def cleanups(tmp_path) -> int:
    marker = tmp_path / "cleaned"
    return marker.read_text().count("cleaned") if marker.exists() else 0


def test_the_commands_streams_and_exit_code_pass_through_and_cleanup_runs_once(tmp_path):
    script = script_with_marker(tmp_path, "echo out; echo err >&2; exit 3")
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    wait_until(lambda: not watchers(tmp_path), "the watcher to stop", 10, interval=0.1)
    assert cleanups(tmp_path) == 1   # the script's own, not a second one by the watcher


def test_stdin_reaches_the_command(tmp_path):
    script = script_with_marker(tmp_path, "tr a-z A-Z")
    result = subprocess.run(["sh", "-c", script], input="select 1\n", capture_output=True, text=True, timeout=30)
    assert result.stdout == "SELECT 1\n"


def test_the_watcher_cleans_up_when_the_ssh_session_goes(tmp_path, spawned):
    session = spawned(["sleep", "300"])
    spawned(["sh", "-c", script_with_marker(tmp_path, "sleep 300", session=str(session.pid))],
            stdout=subprocess.DEVNULL)
    wait_until(lambda: watchers(tmp_path), "the watcher to start", 10, interval=0.1)
    assert cleanups(tmp_path) == 0
    session.kill()
    session.wait()
    wait_until(lambda: cleanups(tmp_path) == 1, "the cleanup after the session went", 10, interval=0.1)


def test_the_watcher_cleans_up_when_the_script_is_killed(tmp_path, spawned):
    script = spawned(["sh", "-c", script_with_marker(tmp_path, "sleep 300")], stdout=subprocess.DEVNULL)
    wait_until(lambda: watchers(tmp_path), "the watcher to start", 10, interval=0.1)
    script.kill()
    script.wait()   # reaped, as sudo reaps it on the host (a zombie still answers kill -0)
    wait_until(lambda: cleanups(tmp_path) == 1, "the cleanup after the script went", 10, interval=0.1)


def test_the_refresh_runs_while_the_command_does(tmp_path):
    refreshed = tmp_path / "refreshed"
    # The command waits for the watcher's first refresh, which comes at once.
    script = script_with_marker(tmp_path, f"until [ -e {refreshed} ]; do sleep 0.05; done",
                                refresh=f"touch {refreshed}")
    subprocess.run(["sh", "-c", script], timeout=30, check=True)
    assert refreshed.exists()


def test_the_session_is_the_nearest_sshd_ancestor(tmp_path):
    """A copy of sh named like OpenSSH's per-connection process stands in for it."""
    sshd = tmp_path / "sshd-session"
    shutil.copy(shutil.which("sh"), sshd)
    script = one_off.FIND_SSH_SESSION + '\necho "$(ssh_session) $PPID"'
    result = subprocess.run([str(sshd), "-c", 'sh -c "$1"; exit $?', "sshd-session", script],
                            capture_output=True, text=True, timeout=10, check=True)
    found, parent = result.stdout.split()
    assert found == parent


def test_no_release_stops_before_anything_runs(tmp_path):
    layout = layout_at(str(tmp_path))
    script = one_off.run_script(layout, "web-1", "onehost-run-abc", ["true"], terminal=False)
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert result.returncode == NO_RELEASE_EXIT
    assert result.stderr == f"error: {no_release_message('web-1')}\n"
    assert result.stdout == ""
