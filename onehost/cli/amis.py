"""`onehost amis`: list and prune the host images (AMIs)."""

from __future__ import annotations

import argparse

from onehost.aws.amis import ec2_client, list_images, prune
from onehost.aws.clients import aws_errors


def keep_count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("keep at least 1 AMI")
    return value


def run_list(args) -> int:
    print(aws_errors(lambda: list_images(ec2_client(args.region))))
    return 0


def run_prune(args) -> int:
    aws_errors(lambda: prune(ec2_client(args.region), args.keep, args.dry))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "amis", help="list and prune the host images (AMIs)",
        description="The AMIs this account owns with the tag onehost:role=host, as Packer's "
                    "amazon-ebs source makes them. Credentials and region as for any boto3 "
                    "program (AWS_PROFILE, AWS_REGION, ...).")
    commands = parser.add_subparsers(dest="amis_command", required=True, metavar="ACTION")
    region = argparse.ArgumentParser(add_help=False)
    region.add_argument("--region", help="AWS region (default: AWS_REGION or AWS_DEFAULT_REGION)")
    listing = commands.add_parser("list", parents=[region],
                                  help="the AMIs with their tags, newest first, and which are in use")
    listing.set_defaults(func=run_list)
    pruning = commands.add_parser(
        "prune", parents=[region], help="deregister old AMIs and delete their snapshots",
        description="Keep the newest N AMIs (by creation date) and every AMI an instance "
                    "(running or stopped) was launched from; deregister the rest and delete "
                    "their snapshots.")
    pruning.add_argument("--keep", type=keep_count, default=3, help="newest AMIs kept (default 3)")
    pruning.add_argument("--dry", action="store_true", help="show what would be deleted; delete nothing")
    pruning.set_defaults(func=run_prune)
