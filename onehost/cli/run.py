"""`onehost run`: a command in a one-off container of the current release.

    onehost run -- python manage.py createsuperuser
    onehost run --env DJANGO_SUPERUSER_PASSWORD=... -- python manage.py createsuperuser --noinput \\
        --username admin --email admin@example.com
    onehost run -- python manage.py showmigrations
    onehost run --host web-1 -- sh -c 'ls -l /app'
    echo 'print(42)' | onehost run -- python manage.py shell

Where it runs: on the host (the inventory's only host, or --host), in a new container of the
release `current` names: its image, its app.env, the shared network, so it reaches PostgreSQL as
the app does. Never inside the serving container: a deploy's switch and drain leave it alone,
and it takes no serving worker. It is removed when the command ends, and also when this command
is killed or the connection drops (the host notices within a second).

Interactive when this machine's stdin and stdout are both terminals (a prompt, a password, a
Python shell); otherwise plain: stdin, stdout and stderr are passed through as they are, and the
exit code is the command's, for scripts and CI.

--lock holds the deploy lock (the one a deploy's switch takes) while the command runs: a deploy
started meanwhile is refused, naming this run. Without it the lock is left alone: migrations are
the deploy's job, not a one-off's.
--env values show in the host's process list and sudo's log: keep secrets in the release's env.
"""

from __future__ import annotations

import argparse

from onehost.commands import lock as deploy_lock
from onehost.commands import one_off
from onehost.commands.host_defaults import DATA_DIR
from onehost.commands.live import layout_at
from onehost.local.shell import CommandFailed, progress
from onehost.remote.one_off import attach, attach_holding_lock, attached_to_terminal
from onehost.remote.session import one_session


def run_in_one_off(args, command: list[str]) -> int:
    """What `run` and `shell` share, once the command is known."""
    try:
        environment = one_off.parse_environment(args.env)
    except one_off.BadInput as error:
        raise CommandFailed(str(error)) from None
    session = one_session(args.host)
    layout = layout_at(args.data_dir)
    terminal = attached_to_terminal()
    name = one_off.new_name(one_off.RUN_PREFIX)

    def script_for(owner: deploy_lock.LockOwner | None) -> str:
        return one_off.run_script(layout, session.name, name, command, terminal=terminal,
                                  environment=environment, owner=owner)

    if not args.lock:
        attach(session, script_for(None), terminal=terminal)
    try:
        return attach_holding_lock(session, layout, script_for, terminal=terminal, say=progress)
    except deploy_lock.LockHeld as error:
        raise CommandFailed(str(error)) from None


def _run(args) -> int:
    try:
        command = one_off.command_given(args.command)
    except one_off.BadInput as error:
        raise CommandFailed(str(error)) from None
    return run_in_one_off(args, command)


def add_one_off_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="the inventory host to run on (needed when it has more than one)")
    parser.add_argument("--lock", action="store_true",
                        help="hold the deploy lock while the command runs (a deploy meanwhile is refused); "
                             "migrations are the deploy's job, so this is rarely needed")
    parser.add_argument("--env", action="append", metavar="KEY=VALUE",
                        help="an extra environment variable for this run, like `docker compose run -e` "
                             "(repeat it for more; the release's env file gives the rest)")
    parser.add_argument("--data-dir", default=DATA_DIR, help=f"the host's data directory (default {DATA_DIR})")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", usage="onehost run [--host HOST] [--lock] [--env KEY=VALUE]... [--data-dir DIR] -- COMMAND...",
        help="run a command in a one-off container of the current release",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_one_off_options(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND...",
                        help="the command and its arguments, after --")
    parser.set_defaults(func=_run)
