"""A small host that keeps itself patched: security updates, swap, kernel settings, time, UTC."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, files

from deploy.lib import rootfs
from deploy.lib.units import enable_at_boot, restart_if_changed, start_now
from deploy.settings import settings


@deploy("Hardening")
def harden_host():
    apt.packages(
        name="Install unattended-upgrades, timesyncd, tzdata, rsyslog and logrotate",
        packages=list(settings().bake.hardening_packages),
        no_recommends=True,
    )
    # Security updates every day; which origins is 50unattended-upgrades' default (Debian-Security).
    rootfs.put("/etc/apt/apt.conf.d/20auto-upgrades")
    enable_at_boot("unattended-upgrades.service")

    # The swap file is made on first boot, not carried in the image (1 GiB of zeros).
    rootfs.put("/usr/local/sbin/onehost-swapfile", mode="755")
    rootfs.put("/etc/systemd/system/onehost-swapfile.service")
    rootfs.put("/etc/systemd/system/swapfile.swap")
    enable_at_boot("onehost-swapfile.service")
    enable_at_boot("swapfile.swap")
    if not host.get_fact(File, path="/swapfile"):
        start_now("onehost-swapfile.service")
    start_now("swapfile.swap", real_host_only=True)

    # Namespaced settings apply everywhere (systemd-sysctl); kernel-wide ones on real hosts only.
    sysctl_conf = rootfs.put("/etc/sysctl.d/60-onehost.conf")
    restart_if_changed("systemd-sysctl.service", [sysctl_conf])
    rootfs.put("/etc/onehost/sysctl-host.conf")
    rootfs.put("/etc/systemd/system/onehost-sysctl.service")
    enable_at_boot("onehost-sysctl.service")
    start_now("onehost-sysctl.service", real_host_only=True)

    timezone = settings().bake.timezone
    files.link(name=f"Set the time zone to {timezone}", path="/etc/localtime",
               target=f"/usr/share/zoneinfo/{timezone}")
    files.put(name="Record the time zone for tools that read /etc/timezone",
              src=StringIO(f"{timezone}\n"), dest="/etc/timezone", user="root", group="root",
              mode="644")
    timesyncd_conf = rootfs.put("/etc/systemd/timesyncd.conf.d/10-onehost.conf")
    enable_at_boot("systemd-timesyncd.service")
    start_now("systemd-timesyncd.service", real_host_only=True)
    restart_if_changed("systemd-timesyncd.service", [timesyncd_conf])
