"""`onehost dbshell`: psql on the host's PostgreSQL, as the app's database user.

    onehost dbshell                                  an interactive psql prompt
    onehost dbshell -- --command 'select count(*) from events_event'
    echo 'select 1;' | onehost dbshell               a script on stdin, plain output
    onehost dbshell < fix.sql

Where it runs: psql inside the data stack's postgres container on the host (the inventory's
only host, or --host), over its local socket, as the user and database the data stack was set
up with (read there, so no settings are needed on this machine). Interactive when this
machine's stdin and stdout are terminals; otherwise stdin is the script and stdout, stderr and
the exit code are psql's. ON_ERROR_STOP is on: a script stops at its first error and exits 3.
When this command is killed or the connection drops, the host ends the psql session within a
second, a query still running included.
"""

from __future__ import annotations

import argparse

from onehost.commands import one_off
from onehost.commands.host_defaults import DATA_DIR
from onehost.commands.live import layout_at
from onehost.remote.one_off import attach, attached_to_terminal
from onehost.remote.session import one_session


def _dbshell(args) -> int:
    arguments = args.arguments[1:] if args.arguments[:1] == ["--"] else args.arguments
    session = one_session(args.host)
    terminal = attached_to_terminal()
    script = one_off.dbshell_script(layout_at(args.data_dir), session.name,
                                    one_off.new_name(one_off.DBSHELL_PREFIX), arguments, terminal=terminal)
    attach(session, script, terminal=terminal)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dbshell", usage="onehost dbshell [--host HOST] [--data-dir DIR] [-- PSQL_ARGS...]",
        help="open psql on the host's PostgreSQL as the app's database user",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", help="the inventory host to run on (needed when it has more than one)")
    parser.add_argument("--data-dir", default=DATA_DIR, help=f"the host's data directory (default {DATA_DIR})")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="-- PSQL_ARGS...",
                        help="more arguments for psql, after --")
    parser.set_defaults(func=_dbshell)
