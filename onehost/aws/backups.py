"""The backup bucket's rules (versioning, Object Lock, lifecycle) and the heartbeat alarm, set with boto3."""


from onehost.local.shell import CommandFailed

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
