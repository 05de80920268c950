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

import argparse

from onehost.deploys import run_deploy
from onehost.history import ssh_command
from onehost.inventory import hosts_from_environment
from onehost.shell import CommandFailed, run

TOOL = "sudo /usr/local/sbin/onehost-backup"


LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


def lifecycle_rules(prefix: str, keep_days: int, abort_days: int = 7, noncurrent_days: int = 1) -> dict:
    """The bucket's lifecycle configuration for the dumps under `prefix`. Expiration counts from
    the upload, as the lock does (retention_configuration), so it only hides a dump whose lock
    has ended; the hidden (noncurrent) version goes `noncurrent_days` later."""
    return {"Rules": [{
        "ID": "onehost-backups",
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Expiration": {"Days": keep_days},
        "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort_days},
    }]}


def retention_configuration(keep_days: int, mode: str = "GOVERNANCE") -> dict:
    """put_object_lock_configuration's ObjectLockConfiguration: every new version of every object
    is locked for `keep_days` from its upload, by the bucket, whatever the uploader asks.
    GOVERNANCE lets a principal with s3:BypassGovernanceRetention delete early (the host's role
    has none); COMPLIANCE lets nobody (S3 User Guide, "Locking objects with Object Lock",
    retention modes)."""
    if mode not in LOCK_MODES:
        raise CommandFailed(f"lock mode {mode!r}: give GOVERNANCE or COMPLIANCE")
    return {"ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": mode, "Days": keep_days}}}


def heartbeat_alarm(host: str, namespace: str = "onehost", hours: int = 26,
                    actions: tuple[str, ...] = ()) -> dict:
    """put_metric_alarm arguments: no BackupSucceeded data point from `host` for `hours` hours
    (missing data counts as breaching) raises the alarm."""
    return {
        "AlarmName": f"onehost-backup-missing-{host}",
        "AlarmDescription": f"No successful database backup from {host} for {hours} hours",
        "Namespace": namespace, "MetricName": "BackupSucceeded",
        "Dimensions": [{"Name": "Host", "Value": host}],
        "Statistic": "Sum", "Period": 3600, "EvaluationPeriods": hours, "DatapointsToAlarm": hours,
        "Threshold": 1, "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching",
        "AlarmActions": list(actions),
    }


def set_lifecycle(s3, bucket: str, prefix: str, keep_days: int, lock_mode: str = "GOVERNANCE") -> dict:
    """Versioning, the Object Lock default retention and the lifecycle rules, in that order
    (Object Lock needs versioning; enabling it on an existing versioned bucket is allowed:
    S3 User Guide, "Configuring S3 Object Lock"). Object Lock cannot be turned off again."""
    from botocore.exceptions import ClientError
    if keep_days < 1:
        raise CommandFailed(f"--keep-days {keep_days}: keep backups at least 1 day")
    retention = retention_configuration(keep_days, lock_mode)
    rules = lifecycle_rules(prefix, keep_days)
    step = "versioning"
    try:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        step = "Object Lock retention"
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=retention)
        step = "lifecycle"
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        raise CommandFailed(f"cannot set the {step} of s3://{bucket}: {code}"
                            + (" (create the bucket first, or check its name)" if code == "NoSuchBucket" else "")
                            ) from None
    return rules


def _hosts():
    try:
        return hosts_from_environment()
    except Exception as error:   # the inventory's errors say what to do
        raise CommandFailed(str(error)) from None


def _on_each_host(arguments: str) -> int:
    failed = 0
    for hostname, data in _hosts():
        print(f"{hostname}:", flush=True)
        failed += run(ssh_command(hostname, data, f"{TOOL} {arguments}"), check=False).returncode != 0
    return 1 if failed else 0


def _command(args) -> int:
    if args.action == "list":
        return _on_each_host("list")
    if args.action == "drill":
        return _on_each_host("drill")
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
