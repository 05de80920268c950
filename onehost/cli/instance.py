"""`onehost instance`: start, stop, reset or inspect the local instance."""

from __future__ import annotations

from onehost.local.instance import (
    InstanceConfig,
    console_output,
    down,
    reset,
    status,
)
from onehost.remote.local_instance import up


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "instance", help="start, stop, reset or inspect the local instance",
        description="The local instance is a container from the baked image (`onehost bake`) "
                    "that stands in for the EC2 host. Name and ports come from ONEHOST_INSTANCE, "
                    "ONEHOST_SSH_PORT, ONEHOST_HTTP_PORT and ONEHOST_HTTPS_PORT "
                    "(defaults: onehost-local, 2222, 8080, 8443), all published on 127.0.0.1.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("up", help="start it (created from the baked image when missing)").set_defaults(
        func=lambda args: up(InstanceConfig.from_environment()))
    actions.add_parser("down", help="stop it, keeping its data volume").set_defaults(
        func=lambda args: down(InstanceConfig.from_environment()))
    actions.add_parser("status", help="say what runs and how to reach it").set_defaults(
        func=lambda args: status(InstanceConfig.from_environment()))
    actions.add_parser("console", help="print its console (as EC2's get-console-output)").set_defaults(
        func=lambda args: print(console_output(InstanceConfig.from_environment()), end=""))
    reset_parser = actions.add_parser("reset", help="remove it and its volumes (all data on it)")
    reset_parser.add_argument("--yes", action="store_true", required=True,
                              help="confirm that the instance's data may be destroyed")
    reset_parser.set_defaults(func=lambda args: reset(InstanceConfig.from_environment()))
