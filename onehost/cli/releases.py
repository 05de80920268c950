"""`onehost releases`: the hosts' releases and deploy history."""

from __future__ import annotations

import argparse

from onehost.commands.host_defaults import DATA_DIR
from onehost.commands.live import layout_at
from onehost.remote import history
from onehost.remote.history import format_history, format_releases, parse_report, remote_report
from onehost.remote.session import inventory_sessions


def show(args) -> int:
    script = remote_report(layout_at(args.data_dir), args.history)
    for session in inventory_sessions():
        report = parse_report(session.output(script))
        print(f"{session.name}: releases (newest first)\n{format_releases(report)}\n")
        print(f"{session.name}: history (newest first)\n{format_history(report)}\n")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "releases", help="list the releases on each host and the history of deploys and rollbacks",
        description=history.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=20, metavar="N",
                        help="how many history entries to show (default 20)")
    parser.add_argument("--data-dir", default=DATA_DIR, help=f"the hosts' data directory (default {DATA_DIR})")
    parser.set_defaults(func=show)
