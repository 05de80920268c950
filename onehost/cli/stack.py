"""`onehost stack`: the environment's CloudFormation stack."""

from __future__ import annotations

import argparse

from onehost.aws import stack as aws_stack
from onehost.aws.clients import aws_errors, client
from onehost.aws.stack import (
    access_lines,
    admin_cidr,
    apply_ecr_lifecycle,
    delete_stack,
    deploy_stack,
    group_data_lines,
    parameter_pair,
    stack_name,
    status_lines,
)
from onehost.local.shell import CommandFailed


def _clients(args):
    return client("cloudformation", args.region), client("ec2", args.region)


def run(args) -> int:
    name = stack_name(args.project, args.environment)
    cfn, ec2 = _clients(args)
    if args.stack_command == "deploy":
        given = dict(args.parameter or [])
        given.update({"Project": args.project, "Environment": args.environment})
        if args.admin_cidr is not None:
            given["AdminCidr"] = args.admin_cidr
        if args.alarm_email is not None:
            given["AlarmEmail"] = args.alarm_email
        outputs = aws_errors(lambda: deploy_stack(
            cfn, ec2, name, given, tags={"project": args.project, "environment": args.environment},
            dry=args.dry, allow_replacement=args.allow_replacement, timeout_seconds=args.timeout))
        if outputs and not args.dry:
            aws_errors(lambda: apply_ecr_lifecycle(client("ecr", args.region), outputs))
            print("\nfor the deploy's group_data (or --data):")
            for line in group_data_lines(outputs, cfn.meta.region_name):
                print("  " + line)
            access = access_lines(outputs)
            if access:
                print("\nreaching the hosts:")
                for line in access:
                    print("  " + line)
    elif args.stack_command == "status":
        print("\n".join(aws_errors(lambda: status_lines(cfn, name))))
    elif args.stack_command == "delete":
        if not args.yes:
            raise CommandFailed(f"deleting stack {name} removes its alarms, role and log group: pass --yes")
        aws_errors(lambda: delete_stack(cfn, name, timeout_seconds=args.timeout))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "stack", help="create, update, show or delete the environment's AWS stack (CloudFormation)",
        description=aws_stack.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="stack_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project", default="onehost", help="project name (default onehost)")
    common.add_argument("--environment", default="production", help="environment name (default production)")
    common.add_argument("--region", help="AWS region (default: AWS_REGION or AWS_DEFAULT_REGION)")
    common.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the stack (default 1800)")
    deploying = commands.add_parser("deploy", parents=[common], help="create or update the stack through a change set")
    deploying.add_argument("--admin-cidr", type=admin_cidr,
                           help="also open SSH directly to this network, e.g. 203.0.113.4/32 ('' removes it; "
                                "the default is none: SSH goes through the Instance Connect Endpoint)")
    deploying.add_argument("--alarm-email", help="an address that gets the alarms ('' for none)")
    deploying.add_argument("--parameter", type=parameter_pair, action="append", metavar="KEY=VALUE",
                           help="any other template parameter (deploy/aws/stack.yaml), repeatable")
    deploying.add_argument("--dry", action="store_true", help="show the change set; change nothing")
    deploying.add_argument("--allow-replacement", action="store_true",
                           help="let the change set replace the data volume, Elastic IP or backup bucket")
    commands.add_parser("status", parents=[common], help="the stack's state, outputs and recent events")
    deleting = commands.add_parser("delete", parents=[common],
                                   help="delete the stack (the data volume, Elastic IP and bucket are kept)")
    deleting.add_argument("--yes", action="store_true", help="really delete")
    for sub in (deploying, commands.choices["status"], deleting):
        sub.set_defaults(func=run)
