"""onehost/commands/backup_bucket.py: the backup bucket's lifecycle and Object Lock documents, as
S3's PutBucketLifecycleConfiguration and PutObjectLockConfiguration take them (the aws tier puts
them on moto's bucket: tests/aws/test_backup_lifecycle.py)."""

import pytest

from onehost.commands import backup_bucket


def test_the_lifecycle_expires_dumps_old_versions_and_abandoned_uploads_under_the_prefix():
    assert backup_bucket.lifecycle_rules("backups/", 30) == {"Rules": [{
        "ID": "onehost-backups", "Filter": {"Prefix": "backups/"}, "Status": "Enabled",
        "Expiration": {"Days": 30}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}


@pytest.mark.parametrize("mode", backup_bucket.LOCK_MODES)
def test_every_new_dump_is_locked_for_the_days_it_is_kept(mode):
    assert backup_bucket.retention_configuration(30, mode) == {
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": mode, "Days": 30}}}


def test_a_lock_mode_s3_does_not_have_is_refused():
    with pytest.raises(backup_bucket.LockModeError, match="lock mode 'governance': give GOVERNANCE or COMPLIANCE"):
        backup_bucket.retention_configuration(30, "governance")
