"""The backup bucket's rules: the lifecycle that expires old dumps and the Object Lock default
retention that keeps each dump undeletable until then. Pure builders of the S3 API's documents;
onehost/aws/backups.py puts them on the bucket (and the stack template declares the same ones:
tests/unit/test_stack_template.py)."""

LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


class LockModeError(ValueError):
    """An Object Lock mode S3 does not have."""


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
        raise LockModeError(f"lock mode {mode!r}: give GOVERNANCE or COMPLIANCE")
    return {"ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": mode, "Days": keep_days}}}
