"""`onehost hosts`: launch, swap and roll back the environment's EC2 instance."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from onehost.aws import hosts as aws_hosts
from onehost.aws.clients import aws_errors, client
from onehost.aws.hosts import (
    SshHosts,
    instance_connection,
    listing,
    load_environment,
    pin_environment_keys,
    previous_image,
    retire,
    serving_instance,
    swap,
)
from onehost.commands import reach
from onehost.commands.cloud_config import PublicKeyError, public_key_line
from onehost.local.instance import ADMIN_USER
from onehost.local.shell import CommandFailed
from onehost.paths import state_dir
from onehost.remote.ssh_files import SshFiles


def login_keys(public_key_file: str | None, ssh_key: str | None, key_name: str | None) -> tuple[str, ...]:
    """The public keys cloud-init gives admin: --ssh-public-key, else --ssh-key's .pub beside it.
    With neither and no EC2 key pair the new host would have no login at all: refused."""
    path = Path(public_key_file).expanduser() if public_key_file else None
    if path is None and ssh_key and Path(f"{ssh_key}.pub").expanduser().is_file():
        path = Path(f"{ssh_key}.pub").expanduser()
    if path is None:
        if key_name:
            return ()
        raise CommandFailed("the new host would have no login (the image carries no keys): give "
                            "--ssh-public-key ~/.ssh/id_ed25519.pub (or --ssh-key with its .pub beside it, "
                            "or --key-name of an EC2 key pair)")
    if not path.is_file():
        raise CommandFailed(f"--ssh-public-key {path}: no such file")
    try:
        return (public_key_line(path.read_text(), str(path)),)
    except PublicKeyError as error:
        raise CommandFailed(str(error)) from None


def run_command(args) -> int:
    cfn, ec2 = client("cloudformation", args.region), client("ec2", args.region)
    env = aws_errors(lambda: load_environment(cfn, args.project, args.environment))
    if args.hosts_command == "list":
        print(aws_errors(lambda: listing(ec2, env)))
        return 0
    if args.hosts_command == "retire":
        aws_errors(lambda: retire(ec2, env, datetime.now(UTC)))
        return 0
    if args.hosts_command == "pin-keys":
        aws_errors(lambda: pin_environment_keys(ec2, env, args.instance_id))
        return 0
    files = SshFiles(state_dir() / "aws" / f"{ec2.meta.region_name}-{env.project}-{env.name}", ADMIN_USER,
                           args.ssh_key)
    hosts = SshHosts(server_name=args.server_name, tls=not args.no_tls,
                     connection=instance_connection(files, args.reach, ec2.meta.region_name))
    if args.hosts_command == "rollback":
        image_id = args.ami or aws_errors(lambda: previous_image(ec2, env))
    else:
        image_id = args.ami
    if args.hosts_command != "launch" and not args.server_name:
        raise CommandFailed(f"{args.hosts_command} checks the new host's /health/: give --server-name (your domain)")
    public_keys = login_keys(args.ssh_public_key, args.ssh_key, args.key_name)
    if args.hosts_command == "launch" and aws_errors(lambda: serving_instance(ec2, env)):
        raise CommandFailed(f"{env.project}-{env.name} already has a serving instance: use `onehost hosts swap`")
    report = aws_errors(lambda: swap(ec2, hosts, env, image_id, instance_type=args.instance_type,
                                     key_name=args.key_name, public_keys=public_keys,
                                     cpu_credits=args.cpu_credits, keep_hours=args.keep_hours,
                                     reuse_standby=args.hosts_command == "rollback",
                                     check_health=bool(args.server_name)))
    if not args.server_name:
        print("no --server-name: /health/ was not checked (nothing is deployed yet); deploy next")
    for step, seconds in report.steps:
        print(f"  {seconds:7.1f} s  {step}")
    if report.downtime_seconds is not None:
        print(f"downtime: {report.downtime_seconds:.1f} s (stacks stopped on the old host until the address moved)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("hosts", help="launch, swap and roll back the environment's EC2 instance",
                                   description=aws_hosts.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="hosts_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project", default="onehost", help="project name (default onehost)")
    common.add_argument("--environment", default="production", help="environment name (default production)")
    common.add_argument("--region", help="AWS region (default: AWS_REGION or AWS_DEFAULT_REGION)")
    moving = argparse.ArgumentParser(add_help=False, parents=[common])
    moving.add_argument("--server-name", help="the domain nginx serves, whose /health/ is checked (required "
                                              "but for a launch onto a data volume nothing was deployed to)")
    moving.add_argument("--no-tls", action="store_true", help="the edge serves plain HTTP (tls=off)")
    moving.add_argument("--instance-type", default="t3.micro", help="default t3.micro (free tier)")
    moving.add_argument("--ssh-key", help="the private key to reach the hosts with; its .pub beside it is "
                                          "given to the new host's admin user unless --ssh-public-key says")
    moving.add_argument("--ssh-public-key", help="the OpenSSH public key cloud-init gives the admin user at "
                                                 "first boot (the image carries none)")
    moving.add_argument("--key-name", help="an EC2 key pair for the admin user instead of (or as well as) "
                                           "--ssh-public-key")
    moving.add_argument("--cpu-credits", choices=("standard", "unlimited"), default="standard",
                        help="T-family credit mode (default standard: unlimited bills surplus CPU credits)")
    moving.add_argument("--keep-hours", type=float, default=24,
                        help="hours the old instance is kept stopped for rollback (default 24)")
    moving.add_argument("--reach", choices=reach.REACH_MODES, default="tunnel",
                        help="how SSH reaches the instances: tunnel (default: through the stack's EC2 "
                             "Instance Connect Endpoint, with `aws ec2-instance-connect open-tunnel`, AWS CLI v2), "
                             "public or private (their address; needs an AdminCidr rule or a VPN)")
    for name, required, text in (("launch", True, "the first instance: from AMI, with the volume and address"),
                                 ("swap", True, "serve from a new instance of another AMI"),
                                 ("rollback", False, "swap back to the AMI served before (or --ami)")):
        sub = commands.add_parser(name, parents=[moving], help=text)
        sub.add_argument("--ami", required=required, help="the AMI id (`onehost amis list`)")
        sub.set_defaults(func=run_command)
    for name, text in (("list", "the environment's instances"),
                       ("retire", "terminate stopped instances past their keep time")):
        commands.add_parser(name, parents=[common], help=text).set_defaults(func=run_command)
    pin = commands.add_parser("pin-keys", parents=[common], help="record running instances' SSH host keys from "
                              "their console in their tags (instances launched without them)")
    pin.add_argument("--instance-id", help="only this instance")
    pin.set_defaults(func=run_command)
