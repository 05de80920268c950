"""`onehost bake`: bake the local instance image."""

from __future__ import annotations

from onehost.local.bake import bake_local_image


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bake", help="bake the local instance image (Packer docker source + the pyinfra bake)",
        description="Build the local instance image the way the AMI is built: Packer runs "
                    "deploy/bake.py on the instance base image, then deploy/cleanup.py; an "
                    "instance booted from the result must pass the image suite before it is "
                    "tagged. Skipped when nothing the image is made from has changed.")
    parser.add_argument("--force", action="store_true", help="bake even when an image for these inputs exists")
    parser.add_argument("--expect-package", action="append", default=[], metavar="NAME",
                        help="also check that package NAME is installed (repeatable)")
    parser.set_defaults(func=lambda args: print(bake_local_image(
        force=args.force, expect_packages=args.expect_package)))
