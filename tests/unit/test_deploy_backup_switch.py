"""`backups=off` is the only way a deploy switches a host's backups off; its inputs are checked
before the host is touched."""

import pytest
from pyinfra.api.exceptions import DeployError

from deploy.settings import BackupSettings

DEFAULTS = {"backup_keep_local": 2, "backup_time": "*-*-* 03:00:00 UTC"}


@pytest.mark.parametrize(("data", "message"), [
    ({"backups": "no"}, r"backups is 'no': give backups=off"),
    ({"backups": "off", "backup_bucket": "ok-bucket"}, r"backups=off and backup_bucket=ok-bucket contradict"),
])
def test_a_backups_switch_that_cannot_be_meant_is_refused(data, message):
    with pytest.raises(DeployError, match=message):
        BackupSettings.from_values({**DEFAULTS, **data})


@pytest.mark.parametrize(("data", "enabled", "bucket"), [
    ({}, True, None),                                            # keeps what the host has
    ({"backups": "off"}, False, None),                           # removes it
    ({"backups": "on", "backup_bucket": "ok-bucket"}, True, "ok-bucket"),
])
def test_a_deploy_may_name_no_bucket_switch_backups_off_or_name_one(data, enabled, bucket):
    backups = BackupSettings.from_values({**DEFAULTS, **data})
    assert (backups.enabled, backups.bucket) == (enabled, bucket)
