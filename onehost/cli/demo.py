"""`onehost demo`: bake, start the local instance and deploy the example app to it."""

from __future__ import annotations

from onehost.local.demo import demo


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="bake, start the local instance and deploy the example app to it",
        description="The whole path on this machine: base images, the baked instance image, "
                    "the local instance, the example app image, and a pyinfra deploy to it. "
                    "Each step is skipped when its result is already there.")
    parser.set_defaults(func=demo)
