"""Backup tooling: the PostgreSQL client of the server's major version, boto3, onehost-backup and
its timers (a nightly backup, a monthly restore drill). Settings are the deploy's (deploy/tasks/backups.py)."""

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploy.lib import rootfs
from deploy.lib.units import enable_at_boot, start_now
from deploy.settings import settings

# In deploy/rootfs/ with its .py suffix (linted and imported as Python), installed without it.
TOOL = rootfs.ROOTFS / "usr/local/sbin/onehost-backup.py"
UNITS = ("onehost-backup.service", "onehost-backup.timer",
         "onehost-backup-drill.service", "onehost-backup-drill.timer")
TIMERS = ("onehost-backup.timer", "onehost-backup-drill.timer")


@deploy("Backup tooling")
def install_backup_tooling():
    apt.packages(name="Install the PostgreSQL client and boto3", packages=list(settings().bake.backup_packages),
                 no_recommends=True)
    files.put(name="Install onehost-backup", src=str(TOOL),
              dest="/usr/local/sbin/onehost-backup", user="root", group="root", mode="755")
    for unit in UNITS:
        rootfs.put(f"/etc/systemd/system/{unit}")
    for timer in TIMERS:
        enable_at_boot(timer)
        start_now(timer)
