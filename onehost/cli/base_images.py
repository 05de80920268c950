"""`onehost base-images`: local stand-ins for registry base images."""

from __future__ import annotations

import argparse
import textwrap

from onehost.local.base_images import RECIPES, ensure
from onehost.local.shell import CommandFailed, timed


def _command(args) -> int:
    names = args.names or list(RECIPES)
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        raise CommandFailed(f"unknown base image(s): {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    with timed(f"base images: {', '.join(names)}"):
        refs = {name: ensure(name, force=args.force) for name in names}
    for name, ref in refs.items():
        print(f"{name} {ref}")
    return 0


def register(subparsers) -> None:
    known = "\n".join(f"  {name:<9} stands in for {recipe.stands_in_for}"
                      for name, recipe in RECIPES.items())
    parser = subparsers.add_parser(
        "base-images",
        help="build local stand-ins for registry base images (machines without a registry)",
        description=textwrap.fill(
            "Build, from Debian trixie packages (mmdebstrap | docker import), the base images "
            "this project otherwise pulls from a registry, for machines that cannot reach one. "
            "Each is tagged onehost-base/NAME:HASH (a hash of its recipe and images/NAME/) and "
            "onehost-base/NAME:latest; an image already present is not rebuilt. With a registry, "
            "use the real images (python:3.13-slim, postgres:17, nginx, a Debian 13 AMI) instead."
        ),
        epilog="images:\n" + known,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--force", action="store_true",
                        help="rebuild even when an image with the same inputs exists")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"images to build (default: all of {', '.join(RECIPES)})")
    parser.set_defaults(func=_command)
