"""`onehost build-app`: build the app image."""

from __future__ import annotations

import argparse

from onehost.local.app_image import build
from onehost.paths import REPO_ROOT

HELP = """\
Build the app image from a directory holding its Dockerfile (the example app by default).

Without a proxy the build installs the requirements from PyPI, like a plain
`docker build`. Behind a TLS-intercepting proxy, containers do not trust the
proxy's CA; so when the host has a CA bundle (the first existing file named by
ONEHOST_CA_BUNDLE, PIP_CERT, SSL_CERT_FILE or REQUESTS_CA_BUNDLE), build-app first
runs `pip wheel` in a container of the base image with that bundle mounted,
writing <context>/wheelhouse/ (git-ignored, emptied each time), and the
Dockerfile installs only from those wheels.

In a project `onehost init` set up, what the image installs is requirements-onehost.txt
(and requirements-onehost-added.txt with hashes): build-app writes them again first when
the project's own requirements changed since, and stops, naming the fix, when the
Dockerfile would need to copy a file it does not.
"""


def _main(args) -> int:
    print(build(args.context, args.tag, args.base_image))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-app", help="build the app image (the example app by default)",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--context", default=str(REPO_ROOT / "example"),
                        help="the app's directory, with its Dockerfile and requirements (default: %(default)s)")
    parser.add_argument("--tag", default="timewarp:dev", help="image tag (default: %(default)s)")
    parser.add_argument("--base-image",
                        help="Python base image passed as the BASE_IMAGE build argument "
                             "(default: the Dockerfile's own, python:3.13-slim for the example)")
    parser.set_defaults(func=_main)
