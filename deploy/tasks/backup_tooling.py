"""Backup tooling: the PostgreSQL client of the server's major version, boto3, onehost-backup and
its timers (a nightly backup, a monthly restore drill). Settings are the deploy's (deploy/tasks/backups.py)."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploy.tasks.units import enable_at_boot, start_now
from onehost.paths import REPO_ROOT

BACKUP_DIR = REPO_ROOT / "backup"
UNITS = ("onehost-backup.service", "onehost-backup.timer",
         "onehost-backup-drill.service", "onehost-backup-drill.timer")
TIMERS = ("onehost-backup.timer", "onehost-backup-drill.timer")


@deploy("Backup tooling")
def install_backup_tooling():
    apt.packages(name="Install the PostgreSQL client and boto3", packages=host.data.backup_packages,
                 no_recommends=True)
    files.put(name="Install onehost-backup", src=str(BACKUP_DIR / "onehost_backup.py"),
              dest="/usr/local/sbin/onehost-backup", user="root", group="root", mode="755")
    for unit in UNITS:
        files.put(name=f"Install {unit}", src=str(BACKUP_DIR / unit),
                  dest=f"/etc/systemd/system/{unit}", user="root", group="root", mode="644")
    for timer in TIMERS:
        enable_at_boot(timer)
        start_now(timer)
