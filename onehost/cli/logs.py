"""`onehost logs`: the app's log (the live colour's), nginx's, PostgreSQL's, the broker's, a declared
process's (worker, beat) or the host's journal.

    onehost logs                              the app's last 100 lines
    onehost logs app --since 10m              the app's last ten minutes
    onehost logs -f                           follow the app, across deploys (Ctrl-C to stop)
    onehost logs app --request-id 3f2a...     one request's app lines (the id nginx gave it:
                                              the X-Request-ID header of its answer)
    onehost logs edge --request-id 3f2a...    the same request in nginx's access log
    onehost logs edge --grep '"status":502' --since 1h
    onehost logs data --since 1d              PostgreSQL's server log
    onehost logs host --since 2h              backups, drills, certificate renewal, boot units
    onehost logs worker --lines 50            the live colour's worker (a process of onehost.toml)
    onehost logs beat -f                      follow beat, across deploys
    onehost logs broker --since 1h            the broker's (Valkey's) log
    onehost logs app --json --since 1h | jq 'select(.status >= 500)'

app    the container of the colour nginx sends traffic to. With -f it keeps following after a
       deploy: the new colour's lines arrive from the switch on (from its first line), the old
       colour's until its drain ends.
edge   nginx's access log (one JSON object a line) and its error log.
data   PostgreSQL's server log.
host   the journal of the host's own units (onehost-*: backup, drill, certbot renew, stacks,
       boot units; and swapfile.swap).
broker the broker stack's container (Valkey), when the host runs one.
NAME   a declared process (onehost.toml's [processes]: worker, beat, ...): the live colour's
       container of it. With -f it follows deploys as app does. The names come from
       onehost.toml (ONEHOST_APP_CONFIG), or without it from the host's process containers.

--since takes 30s, 10m, 2h, 1d or an ISO time (2026-05-01T09:30Z; UTC when no zone is given).
Without --since or --lines: the last 100 lines, or the whole log when --grep or --request-id
looks for something.

At a terminal, JSON lines are printed readably: time, level (nginx: HTTP status), message,
request id, one line each (a traceback follows, indented); other lines as they are. --json, or
stdout not a terminal (a pipe, a file): the lines exactly as written, for jq and grep; for
`host`, --json gives the journal's own JSON entries.
"""

from __future__ import annotations

import argparse
import os
import sys

from onehost.commands import logs
from onehost.commands.host_defaults import DATA_DIR
from onehost.commands.live import layout_at
from onehost.local.shell import CommandFailed
from onehost.remote.logs import each_line, known_on_host
from onehost.remote.session import one_session


def _logs(args) -> int:
    try:
        request = logs.log_request(args.kind, since=args.since, lines=args.lines, follow=args.follow,
                                   as_json=args.json, filtering=args.grep is not None or args.request_id is not None,
                                   request_id=args.request_id)
        session = one_session(args.host)
        if args.kind not in logs.KINDS:    # the broker or a process: is there one of that name?
            logs.check_name(args.kind, logs.known_from_settings(session.data) or known_on_host(session))
    except logs.BadInput as error:
        raise CommandFailed(str(error)) from None
    script = logs.logs_script(request, layout_at(args.data_dir), session.name)
    readable = sys.stdout.isatty() and not args.json

    def show(line: str) -> None:
        if logs.matches(line, grep=args.grep, request_id=args.request_id):
            sys.stdout.write((logs.readable(line) if readable else line) + "\n")
            sys.stdout.flush()

    try:
        return each_line(session, script, show)
    except BrokenPipeError:   # the reader went away (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "logs", help="read or follow the app's, nginx's, PostgreSQL's, the broker's, a process's or the host's log",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", nargs="?", default="app", metavar="LOG",
                        help=f"which log: {', '.join(logs.KINDS)}, {logs.BROKER} or a process's name "
                             "(default app: the live colour's)")
    parser.add_argument("--host", help="the inventory host to read (needed when it has more than one)")
    parser.add_argument("--since", metavar="WHEN",
                        help="from this long ago (30s, 10m, 2h, 1d) or this ISO time on (UTC unless it says)")
    parser.add_argument("-n", "--lines", type=int, metavar="N",
                        help=f"the last N lines (default {logs.DEFAULT_LINES} when neither --since "
                             "nor a filter is given)")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="keep printing new lines until Ctrl-C (app and processes: across deploys)")
    parser.add_argument("--grep", metavar="TEXT", help="only lines that contain TEXT (case matters)")
    parser.add_argument("--request-id", metavar="ID",
                        help="only the lines of this request (app and edge: the request_id field)")
    parser.add_argument("--json", action="store_true",
                        help="the lines as written (the default when stdout is not a terminal)")
    parser.add_argument("--data-dir", default=DATA_DIR, help=f"the host's data directory (default {DATA_DIR})")
    parser.set_defaults(func=_logs)
