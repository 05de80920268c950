"""`onehost backups`: the database backups of the inventory's hosts, from the operator's machine.

    onehost backups list                        the backups in S3 (each host's onehost-backup list)
    onehost backups drill                       a restore drill on each host now
    onehost backups restore [NAME] [--replace-live]
                                                check a backup (latest by default) in a scratch
                                                database; --replace-live swaps it in
    onehost backups lifecycle --bucket B [--lock-mode M]
                                                versioning and Object Lock: each dump locked for
                                                30 days (--keep-days) from its upload; lifecycle
                                                rules: dumps expire after those days, incomplete
                                                uploads after 7, old versions a day later
    onehost backups alarm --host H [--sns-topic ARN]
                                                a CloudWatch alarm when host H has published no
                                                BackupSucceeded heartbeat for 26 hours

list, drill and restore run onehost-backup on each host over SSH, with the inventory's settings
(restore through the pyinfra deploy file deploy/restore.py); lifecycle talks to S3 with boto3
and the usual AWS credentials (the AWS layer's stack sets the same rules where there is one).
"""

from __future__ import annotations

import argparse

from onehost.aws.backups import heartbeat_alarm, set_lifecycle
from onehost.commands.backup_bucket import LOCK_MODES
from onehost.local.shell import CommandFailed
from onehost.remote.backups import on_each_host
from onehost.remote.deploys import run_deploy


def _command(args) -> int:
    if args.action == "list":
        return on_each_host("list")
    if args.action == "drill":
        return on_each_host("drill")
    if args.action == "restore":
        data = {"backup": args.backup, "replace_live": "true" if args.replace_live else "false"}
        return run_deploy("restore.py", data, check=False).returncode
    import boto3
    if args.action == "alarm":
        alarm = heartbeat_alarm(args.host, actions=tuple(args.sns_topic or ()))
        boto3.client("cloudwatch").put_metric_alarm(**alarm)
        print(f"alarm {alarm['AlarmName']}: no backup heartbeat from {args.host} for 26 hours")
        return 0
    rules = set_lifecycle(boto3.client("s3"), args.bucket, args.prefix, args.keep_days, args.lock_mode)
    rule = rules["Rules"][0]
    print(f"s3://{args.bucket}: every new object is locked ({args.lock_mode}) for {args.keep_days} days "
          "from its upload (Object Lock stays on for good)")
    print(f"s3://{args.bucket}/{args.prefix}: dumps expire after {rule['Expiration']['Days']} days, "
          f"incomplete uploads are aborted after 7, noncurrent versions expire "
          f"{rule['NoncurrentVersionExpiration']['NoncurrentDays']} day later")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("backups", help="list, drill, restore the hosts' database backups; "
                                                   "set the bucket's lifecycle",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("list", "drill", "restore", "lifecycle", "alarm"))
    parser.add_argument("backup", nargs="?", default="latest",
                        help="restore: a backup name from `list` (default: latest)")
    parser.add_argument("--replace-live", action="store_true",
                        help="restore: swap the checked backup in for the live database (the app stops meanwhile)")
    parser.add_argument("--bucket", help="lifecycle: the backup bucket")
    parser.add_argument("--prefix", default="backups/", help="lifecycle: the dumps' key prefix (default backups/)")
    parser.add_argument("--keep-days", type=int, default=30,
                        help="lifecycle: days a dump is locked and kept (default 30)")
    parser.add_argument("--lock-mode", choices=LOCK_MODES, default="GOVERNANCE",
                        help="lifecycle: Object Lock mode (default GOVERNANCE: an administrator with "
                             "s3:BypassGovernanceRetention may delete early; COMPLIANCE: nobody may)")
    parser.add_argument("--host", help="alarm: the Host dimension of the heartbeat (the host's inventory name)")
    parser.add_argument("--sns-topic", action="append", metavar="ARN", help="alarm: notify this SNS topic")
    parser.set_defaults(func=_checked)


def _checked(args) -> int:
    if args.action == "lifecycle" and not args.bucket:
        raise CommandFailed("lifecycle needs --bucket: the S3 bucket the backups go to")
    if args.action == "alarm" and not args.host:
        raise CommandFailed("alarm needs --host: the host name onehost-backup reports (its inventory name)")
    return _command(args)
