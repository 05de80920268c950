"""`onehost run`, `shell` and `dbshell`: one command on a host, attached to this machine's
terminal or to its pipes, that leaves nothing running behind it.

    run      a one-off container of the current release (its compose.yaml, its release.env with
             the pinned APP_IMAGE, its app.env, the shared network; `--no-deps`), under the
             project ONE_OFF_PROJECT, so no deploy's `up --remove-orphans` or `down` of a colour
             touches it; never inside the serving container
    dbshell  psql in the data stack's postgres container, as the app's database user

Each is one sh script, run as root through the host's session (onehost/remote/session.py):

    checks        the host has a release, before anything starts
    watcher       a process in a session of its own (setsid) that polls, once a second, the sshd
                  process serving this command and the script itself; when either is gone (the
                  client was killed, the connection dropped, the script was signalled) it runs
                  the cleanup: the one-off container removed (`docker rm --force` by its unique
                  name), or the psql session ended; and, with --lock, the deploy lock released
    the command   in the foreground, with ssh's stdin, stdout and stderr
    cleanup       the same cleanup, then the command's exit code

Why a watcher rather than a signal: sshd signals nothing to a command that has no terminal
(openssh/openssh-portable serverloop.c, server_loop2: on "Connection closed" the loop ends and
the session process exits, leaving its children), and with one the SIGHUP reaches only what sudo relays it
to (Debian's sudoers has `Defaults use_pty`; sudo-project/sudo#367: processes outlive a killed
SSH connection under use_pty). A container outlives the `docker` client that started it
whatever the client gets, so the host itself must notice that the session is gone.
"""

from __future__ import annotations

import re
import shlex
import uuid

from onehost.commands import compose_commands, lock
from onehost.commands.compose_commands import ONE_OFF_PROJECT
from onehost.commands.live import require_release
from onehost.commands.switch import DATA_PROJECT, HostLayout

RUN_PREFIX = "onehost-run-"
DBSHELL_PREFIX = "onehost-dbshell-"
SHELL_COMMAND = ("python", "manage.py", "shell")
# How often the watcher refreshes a lock the command holds (lock.inspect reads the lock
# directory's mtime), so that a long `run --lock` never looks stale to a deploy.
LOCK_REFRESH_SECONDS = 30
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ONE_OFF_NAME = re.compile(r"[a-z0-9-]+\Z")
# psql as the app's database user: POSTGRES_USER and POSTGRES_DB are the container's own
# environment, which Compose filled from the data stack's postgres.env with its own env-file
# parser (so no value is read back by hand). ON_ERROR_STOP: a piped script stops at its first
# error and psql exits 3 (https://www.postgresql.org/docs/current/app-psql.html, Exit Status).
PSQL_AS_APP_USER = 'exec psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --set ON_ERROR_STOP=1 "$@"'

# The pid of the sshd process serving this command: the nearest ancestor named sshd* (OpenSSH
# 9.8 on runs each connection as sshd-session: https://www.openssh.com/txt/release-9.8; the
# host image's sshd does); empty when there is none.
FIND_SSH_SESSION = r"""ssh_session() {
  pid=$$
  while [ "${pid:-1}" -gt 1 ]; do
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in sshd*) echo "$pid"; return ;; esac
    pid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
  done
}"""
# $1 the ssh session's pid (may be empty), $2 the script's pid, $3 the cleanup, $4 a command
# run every LOCK_REFRESH_SECONDS while both live (may be empty). HUP and INT are ignored: a
# hang-up is what it is there to outlive.
WATCHER = f"""trap '' HUP INT
ticks=0
while kill -0 "$2" 2>/dev/null && {{ [ -z "$1" ] || kill -0 "$1" 2>/dev/null; }}; do
  if [ -n "$4" ] && [ $((ticks % {LOCK_REFRESH_SECONDS})) -eq 0 ]; then sh -c "$4"; fi
  ticks=$((ticks + 1))
  sleep 1
done
sh -c "$3"
"""


class BadInput(ValueError):
    """What was asked cannot run; the message says what to give instead."""


def new_name(prefix: str, token: str | None = None) -> str:
    """A name no other run has: the one-off container's, or the psql session's."""
    return prefix + (token or uuid.uuid4().hex[:12])


def command_given(arguments: list[str], example: str = "onehost run -- python manage.py migrate --check") -> list[str]:
    """The command after `--` (argparse keeps the `--` in a REMAINDER)."""
    command = arguments[1:] if arguments[:1] == ["--"] else list(arguments)
    if not command:
        raise BadInput(f"no command given: put it after --, e.g. {example}")
    return command


def parse_environment(pairs: list[str] | None) -> dict[str, str]:
    """--env KEY=VALUE options, in order (a later KEY wins)."""
    environment = {}
    for pair in pairs or ():
        key, equals, value = pair.partition("=")
        if not equals or not ENV_NAME.match(key):
            raise BadInput(f"--env {pair!r} is not KEY=VALUE: give e.g. --env DJANGO_SUPERUSER_USERNAME=admin")
        environment[key] = value
    return environment


# --- run --------------------------------------------------------------------------------------

def app_run(name: str, command: list[str], *, terminal: bool,
            environment: dict[str, str] | None = None) -> list[str]:
    """`docker compose run` of the release's app service, from inside the release directory.

    Compose's run takes -T (no TTY) and otherwise allocates one when its stdin is a terminal;
    -i (stdin attached) is its default; --rm removes the container when the command ends
    (https://docs.docker.com/reference/cli/docker/compose/run/)."""
    flags = [flag for key, value in (environment or {}).items() for flag in ("--env", f"{key}={value}")]
    return [*compose_commands.compose(ONE_OFF_PROJECT, "compose.yaml", "release.env"),
            "run", "--rm", "--no-deps", "--name", name, *([] if terminal else ["-T"]), *flags,
            "app", *command]


def remove_container(name: str) -> list[str]:
    """Stops (SIGKILL) and removes it, running or not
    (https://docs.docker.com/reference/cli/docker/container/rm/)."""
    return ["docker", "rm", "--force", name]


def keep_lock_fresh(lock_dir: str, owner: lock.LockOwner) -> list[str]:
    """Touches the lock directory while it is still ours."""
    owner_file = shlex.quote(f"{lock_dir}/{lock.OWNER_FILE}")
    return ["sh", "-c", f"if grep -qs {shlex.quote(owner.token)} {owner_file}; then "
                        f"touch {shlex.quote(lock_dir)}; fi"]


def in_release(layout: HostLayout, host_name: str) -> str:
    """Stops with the no-release message, or enters the live release's directory."""
    return f'{require_release(layout, host_name)}\ncd "$release" || exit 1'


def run_script(layout: HostLayout, host_name: str, name: str, command: list[str], *, terminal: bool,
               environment: dict[str, str] | None = None, owner: lock.LockOwner | None = None) -> str:
    """`onehost run`: the command in a one-off container; `owner`: the deploy lock it holds."""
    cleanup = [remove_container(name)]
    refresh = None
    if owner is not None:
        cleanup.append(lock.release(layout.lock_dir, owner))
        refresh = keep_lock_fresh(layout.lock_dir, owner)
    return attached_script(app_run(name, command, terminal=terminal, environment=environment), cleanup,
                           checks=in_release(layout, host_name), refresh=refresh)


# --- dbshell ----------------------------------------------------------------------------------

def data_compose(layout: HostLayout) -> list[str]:
    stack = layout.data_stack_dir
    return compose_commands.compose(DATA_PROJECT, f"{stack}/compose.yaml", f"{stack}/stack.env")


def psql(layout: HostLayout, name: str, arguments: list[str], *, terminal: bool) -> list[str]:
    """psql in the postgres container over its local socket; PGAPPNAME names the session
    (https://www.postgresql.org/docs/current/libpq-envars.html) so the cleanup can find it."""
    return [*data_compose(layout), "exec", *([] if terminal else ["-T"]), "--env", f"PGAPPNAME={name}",
            "postgres", "sh", "-c", PSQL_AS_APP_USER, "psql", *arguments]


def end_psql_session(layout: HostLayout, name: str) -> list[str]:
    """Ends the server side of the named psql session, a query still running included
    (pg_terminate_backend: https://www.postgresql.org/docs/current/functions-admin.html)."""
    if not ONE_OFF_NAME.match(name):
        raise BadInput(f"{name!r} is not a session name (lowercase letters, digits and dashes)")
    sql = f"select pg_terminate_backend(pid) from pg_stat_activity where application_name = '{name}'"
    return [*data_compose(layout), "exec", "-T", "postgres", "sh", "-c",
            'exec psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --quiet --tuples-only '
            '--command "$1"', "end-session", sql]


def dbshell_script(layout: HostLayout, host_name: str, name: str, arguments: list[str], *,
                   terminal: bool) -> str:
    return attached_script(psql(layout, name, arguments, terminal=terminal), [end_psql_session(layout, name)],
                           checks=require_release(layout, host_name))


# --- the script -------------------------------------------------------------------------------

def attached_script(command: list[str], cleanup: list[list[str]], *, checks: str = "",
                    refresh: list[str] | None = None, session: str = '"$(ssh_session)"') -> str:
    """The command in the foreground, the watcher beside it, the cleanup after it either way.

    `session`: the shell word giving the sshd pid to watch (the unit tests give their own).
    `setsid` puts the watcher in a new session: no terminal's hang-up and no signal sent to the
    command's process group reaches it (setsid(1), util-linux)."""
    cleanup_line = "; ".join(f"{shlex.join(step)} >/dev/null 2>&1" for step in cleanup)
    watcher = shlex.join(["setsid", "sh", "-c", WATCHER, "onehost-watch"])
    return "\n".join(part for part in (
        checks,
        FIND_SSH_SESSION,
        f"{watcher} {session} \"$$\" {shlex.quote(cleanup_line)} {shlex.quote(shlex.join(refresh) if refresh else '')}"
        " </dev/null >/dev/null 2>&1 &",
        "watcher=$!",
        shlex.join(command),
        "status=$?",
        'kill "$watcher" 2>/dev/null',
        cleanup_line,
        'exit "$status"',
    ) if part)
