"""The backup bucket's rules (versioning, Object Lock, lifecycle) and the heartbeat alarm, set with boto3.
The rules themselves are built in onehost/commands/backup_bucket.py."""

from onehost.commands import backup_bucket
from onehost.local.shell import CommandFailed


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
    try:
        retention = backup_bucket.retention_configuration(keep_days, lock_mode)
    except backup_bucket.LockModeError as error:
        raise CommandFailed(str(error)) from None
    rules = backup_bucket.lifecycle_rules(prefix, keep_days)
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
