"""The backup bucket's lifecycle rules and the missing-heartbeat alarm, set by `onehost backups`, read back from moto."""

import pytest

from onehost import backups
from onehost.shell import CommandFailed


def test_lifecycle_rules_expire_dumps_uploads_and_old_versions(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="timewarp-backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    backups.set_lifecycle(s3, "timewarp-backups", "backups/", keep_days=30)
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket="timewarp-backups")["Rules"]
    assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": "backups/"}
    assert rule["Expiration"] == {"Days": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7


def test_a_bucket_that_does_not_exist(aws):
    with pytest.raises(CommandFailed, match="NoSuchBucket .create the bucket first"):
        backups.set_lifecycle(aws.client("s3"), "no-such-bucket", "backups/", keep_days=30)


def test_zero_days_is_refused(aws):
    with pytest.raises(CommandFailed, match="at least 1 day"):
        backups.set_lifecycle(aws.client("s3"), "timewarp-backups", "backups/", keep_days=0)


def test_the_heartbeat_alarm_watches_26_hours_without_a_backup(aws):
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(**backups.heartbeat_alarm("onehost-test"))
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["onehost-backup-missing-onehost-test"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("onehost", "BackupSucceeded")
    assert alarm["Dimensions"] == [{"Name": "Host", "Value": "onehost-test"}]
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
