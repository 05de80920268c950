"""The nightly backup's settings on the host: bucket, region, database, schedule.

The image carries onehost-backup and its timers (deploy/tasks/backup_tooling.py); the deploy
tells them where to put the dumps. The settings stay on the host until a deploy gives new ones
or `backups=off` removes them: a deploy that names no bucket (a CI deploy) changes nothing.
Without settings the timer skips itself.
"""

import json
from io import StringIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from deploy.facts import asked_while_planning
from deploy.lib.private_upload import private_file
from deploy.settings import Settings, settings

TIMER_DROP_IN = "/etc/systemd/system/onehost-backup.timer.d/schedule.conf"


def backup_settings(given: Settings, host_name: str) -> dict:
    """config.json for onehost-backup (its Settings fields)."""
    backups = given.backups
    config = {
        "bucket": backups.bucket,
        "prefix": backups.prefix,
        "region": backups.region,
        "database": given.deploy.db_name,
        "db_user": given.deploy.db_user,
        # The heartbeat's Host dimension: stable across instances where the inventory gives one.
        "host": backups.metrics_host or host_name,
        "backup_dir": given.layout.backups,
        "releases_dir": given.layout.releases,
        "keep_local": backups.keep_local,
        "namespace": given.cloudwatch.namespace,
    }
    if backups.endpoint_url:
        config["endpoint_url"] = backups.endpoint_url
    return config


def timer_schedule(on_calendar: str) -> str:
    return f"[Timer]\nOnCalendar=\nOnCalendar={on_calendar}\n"


@deploy("Backup settings")
def configure_backups():
    backups = settings().backups
    backup_dir = settings().layout.backups
    config = f"{backup_dir}/config.json"
    credentials = f"{backup_dir}/aws-credentials"
    if not backups.enabled:
        host.log_styled(f"backups=off: this host's backup settings are removed and the nightly backup "
                        f"stops; the dumps already in S3 and in {backup_dir} stay. A deploy with "
                        "--data backup_bucket=... switches backups on again.", fg="yellow",
                        log_func=logger.warning)
        files.file(name="backups=off: remove the backup settings", path=config, present=False)
        files.file(name="backups=off: remove the backups' AWS credentials", path=credentials, present=False)
        return
    if not backups.bucket:
        if asked_while_planning(File, path=config):
            host.log("backups: the host keeps its backup settings (no backup_bucket given; "
                     "backups=off removes them)")
        else:
            host.log_styled("backups: none on this host: give --data backup_bucket=<the stack's "
                            "BackupBucketName> to back up nightly", fg="yellow", log_func=logger.warning)
        return
    private_file(name="Write the backup settings",
                 content=json.dumps(backup_settings(settings(), host.name), indent=2) + "\n", dest=config)
    if backups.aws_credentials:
        private_file(name="Install the AWS credentials for backups", content=backups.aws_credentials,
                     dest=credentials)
    else:
        files.file(name="No AWS credentials file (an instance role)", path=credentials, present=False)
    files.directory(name="Create the backup timer's drop-in directory", path=str(Path(TIMER_DROP_IN).parent))
    schedule = files.put(name=f"Back up at {backups.time}",
                         src=StringIO(timer_schedule(backups.time)), dest=TIMER_DROP_IN, mode="644")
    server.shell(name="Reschedule the backup timer",
                 commands=["systemctl daemon-reload && systemctl restart onehost-backup.timer"],
                 _if=schedule.did_change)
