"""The backup settings a deploy is given, checked with the rest of the plan."""

import re
from pathlib import Path

from pyinfra.api.exceptions import DeployError

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_backup_inputs(data) -> None:
    """Checked with the rest of the plan, before the host is touched."""
    bucket = data.get("backup_bucket")
    switch = str(data.get("backups") or "on")
    if switch not in ("on", "off"):
        raise DeployError(f"backups is {switch!r}: give backups=off to switch this host's backups off "
                          "(without it a deploy keeps the host's backup settings)")
    if switch == "off" and bucket:
        raise DeployError(f"backups=off and backup_bucket={bucket} contradict each other: give "
                          "backup_bucket to back up there, or backups=off to stop backing up")
    if not bucket:
        return
    if not isinstance(bucket, str) or not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise DeployError(f"backup_bucket {bucket!r} is not an S3 bucket name (3-63 lower-case letters, "
                          "digits, dots and hyphens)")
    keep = str(data.get("backup_keep_local"))
    if not keep.isdigit() or int(keep) < 1:
        raise DeployError(f"backup_keep_local is {keep!r}: keep at least 1 local dump, e.g. --data backup_keep_local=2")
    credentials = data.get("backup_aws_credentials")
    if credentials and not Path(credentials).expanduser().is_file():
        raise DeployError(f"backup_aws_credentials {credentials} does not exist: give an AWS credentials "
                          "file, or leave it unset on EC2 (the instance role is used)")
    if not str(data.get("backup_time") or "").strip() or "\n" in str(data.get("backup_time")):
        raise DeployError("backup_time is empty: give a systemd calendar time, e.g. '*-*-* 03:00:00 UTC'")
