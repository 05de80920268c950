"""`onehost releases`: the hosts' releases and deploy history."""

from __future__ import annotations

import argparse

from onehost.local.shell import CommandFailed, output
from onehost.remote import history
from onehost.remote.history import (
    format_history,
    format_releases,
    parse_report,
    remote_report,
    ssh_command,
)
from onehost.remote.inventory import hosts_from_environment


def show(args) -> int:
    try:
        hosts = hosts_from_environment()
    except Exception as error:   # the inventory's errors say what to do
        raise CommandFailed(str(error)) from None
    for hostname, data in hosts:
        text = output(ssh_command(hostname, data, remote_report(args.data_dir, args.history)))
        report = parse_report(text)
        print(f"{hostname}: releases (newest first)\n{format_releases(report)}\n")
        print(f"{hostname}: history (newest first)\n{format_history(report)}\n")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "releases", help="list the releases on each host and the history of deploys and rollbacks",
        description=history.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=20, metavar="N",
                        help="how many history entries to show (default 20)")
    parser.add_argument("--data-dir", default="/data", help="the hosts' data directory (default /data)")
    parser.set_defaults(func=show)
