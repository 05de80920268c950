"""`onehost shell`: Django's shell in a one-off container of the current release.

    onehost shell                                   a Python prompt with the app's settings
    onehost shell -- --command 'from django.contrib.auth.models import User; print(User.objects.count())'
    echo 'print(42)' | onehost shell                 a script on stdin, plain output

Where it runs: as `onehost run -- python manage.py shell [ARGS...]` does, in a new container
of the release `current` names on the host (the inventory's only host, or --host), never the
serving one, removed when the shell ends, is killed or loses its connection. Interactive when
this machine's stdin and stdout are terminals, plain pipes otherwise.
"""

from __future__ import annotations

import argparse

from onehost.cli.run import add_one_off_options, run_in_one_off
from onehost.commands.one_off import SHELL_COMMAND


def _shell(args) -> int:
    extra = args.arguments[1:] if args.arguments[:1] == ["--"] else args.arguments
    return run_in_one_off(args, [*SHELL_COMMAND, *extra])


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "shell", usage="onehost shell [--host HOST] [--lock] [--env KEY=VALUE]... [--data-dir DIR] [-- ARGS...]",
        help="open Django's shell (manage.py shell) in a one-off container of the current release",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_one_off_options(parser)
    parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="-- ARGS...",
                        help="more arguments for manage.py shell, after --")
    parser.set_defaults(func=_shell)
