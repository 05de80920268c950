"""The backup bucket's lock, lifecycle rules and the missing-heartbeat alarm, set by `onehost
backups`, read back from moto; and onehost-backup's uploads into such a bucket: the bucket
locks each dump for the retention days without the host asking, nobody without the governance
bypass can delete one early, and the tool never writes over a dump already there."""

import importlib.util
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from onehost.aws import backups
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("onehost_backup",
                                              REPO_ROOT / "deploy/rootfs/usr/local/sbin/onehost-backup.py")
tool = importlib.util.module_from_spec(_spec)
sys.modules["onehost_backup"] = tool   # dataclasses look their module up there
_spec.loader.exec_module(tool)

BUCKET = "timewarp-backups"
NAME = "timewarp-20261125T030405Z.dump"


def test_lifecycle_rules_expire_dumps_uploads_and_old_versions(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    backups.set_lifecycle(s3, BUCKET, "backups/", keep_days=30)
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": "backups/"}
    assert rule["Expiration"] == {"Days": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    # Versioning and the lock come first: the expiry above only ever hides an unlocked dump.
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    lock = s3.get_object_lock_configuration(Bucket=BUCKET)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert (lock["Rule"]["DefaultRetention"]["Mode"], lock["Rule"]["DefaultRetention"]["Days"]) == ("GOVERNANCE", 30)


@pytest.fixture
def locked(aws, tmp_path):
    """A backup bucket as the stack makes it (Object Lock on from creation, the same retention),
    an S3 client that adds no checksum of its own (as botocore before 1.36), and the tool's
    settings."""
    s3 = aws.client("s3", config=Config(request_checksum_calculation="when_required"))
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
                     ObjectLockEnabledForBucket=True)
    backups.set_lifecycle(s3, BUCKET, "backups/", keep_days=30)
    settings = tool.Settings(bucket=BUCKET, database="timewarp", db_user="timewarp", host="timewarp-production",
                             backup_dir=str(tmp_path), releases_dir=str(tmp_path / "releases"),
                             endpoint_url=os.environ["AWS_ENDPOINT_URL"], upload_attempts=1)
    return s3, settings, tmp_path / NAME


def test_the_bucket_locks_each_dump_for_the_retention_days(locked):
    s3, settings, path = locked
    path.write_bytes(b"PGDMP first dump")
    key = tool.upload(settings, s3, path)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    # The host asked for no retention: the bucket's default gave it.
    assert head["ObjectLockMode"] == "GOVERNANCE"
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(head["ObjectLockRetainUntilDate"] - expected) < timedelta(minutes=5)
    # Deleting the version is refused, even to the bucket's owner, without the governance bypass.
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=head["VersionId"])
    assert s3.get_object(Bucket=BUCKET, Key=key, VersionId=head["VersionId"])["Body"].read() == b"PGDMP first dump"


def test_a_dump_is_never_written_over(locked):
    s3, settings, path = locked
    path.write_bytes(b"PGDMP first dump")
    key = tool.upload(settings, s3, path)
    # A retry of an upload that had landed (its answer lost) finds the same bytes: done.
    assert tool.upload(settings, s3, path) == key
    # Other bytes under the same name are refused (S3's 412 on If-None-Match) and kept on the host.
    path.write_bytes(b"PGDMP something else")
    with pytest.raises(tool.BackupError, match=f"s3://{BUCKET}/{key} already exists with other content "
                                               "and is not overwritten"):
        tool.upload(settings, s3, path)
    assert path.exists()
    [version] = s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    assert s3.get_object(Bucket=BUCKET, Key=key, VersionId=version["VersionId"])["Body"].read() == b"PGDMP first dump"


def test_an_unknown_lock_mode_is_refused(aws):
    with pytest.raises(CommandFailed, match="give GOVERNANCE or COMPLIANCE"):
        backups.set_lifecycle(aws.client("s3"), BUCKET, "backups/", keep_days=30, lock_mode="governance")


def test_a_bucket_that_does_not_exist(aws):
    with pytest.raises(CommandFailed, match="NoSuchBucket .create the bucket first"):
        backups.set_lifecycle(aws.client("s3"), "no-such-bucket", "backups/", keep_days=30)


def test_zero_days_is_refused(aws):
    with pytest.raises(CommandFailed, match="at least 1 day"):
        backups.set_lifecycle(aws.client("s3"), BUCKET, "backups/", keep_days=0)


def test_the_heartbeat_alarm_watches_26_hours_without_a_backup(aws):
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(**backups.heartbeat_alarm("onehost-test"))
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["onehost-backup-missing-onehost-test"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("onehost", "BackupSucceeded")
    assert alarm["Dimensions"] == [{"Name": "Host", "Value": "onehost-test"}]
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
