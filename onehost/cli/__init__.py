"""The `onehost` console script: what is not a host operation.

One module per command, named after it. Each exposes `register(subparsers)` and sets `func` on
its parser; the function takes the parsed arguments and returns an exit code.
"""

import argparse
import sys

from onehost.cli import (
    amis,
    backups,
    bake,
    base_images,
    build_app,
    dbshell,
    demo,
    hosts,
    init,
    instance,
    load,
    logs,
    releases,
    run,
    shell,
    stack,
    status,
)
from onehost.local.shell import CommandFailed

# In this order in `onehost --help`.
COMMAND_MODULES = (demo, base_images, bake, instance, build_app, releases, status, logs, run, shell,
                   dbshell, load, amis, backups, stack, hosts, init)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onehost",
        description="Run a Django REST API on one host: the local instance and its images, the AWS "
                    "environment, and the day-two console (status, logs, run, shell, dbshell).",
        epilog="Host changes are pyinfra deploys: pyinfra deploy/inventory.py deploy/deploy.py "
               "--data image=... (and deploy/rollback.py to go back).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except CommandFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

