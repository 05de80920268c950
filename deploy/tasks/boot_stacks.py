"""On boot: mount the data volume by label (nofail), then bring up the data, app and edge stacks."""

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploy.lib import rootfs
from deploy.lib.units import enable_at_boot
from deploy.settings import settings


def fstab_line(label: str, mount_point: str, fstype: str) -> str:
    """nofail: a host whose volume is missing still boots (and reachable over SSH to fix it)."""
    return (f"LABEL={label} {mount_point} {fstype} "
            "defaults,nofail,x-systemd.device-timeout=30s 0 2")


@deploy("Stacks at boot")
def start_stacks_at_boot():
    data_dir, bake = settings().layout.data_dir, settings().bake
    apt.packages(name="Install the data volume's file system tools", packages=list(bake.data_volume_packages),
                 no_recommends=True)
    files.directory(name=f"Create the mount point {data_dir}", path=data_dir, mode="755")
    files.line(name="Mount the data volume by its label", path="/etc/fstab",
               line=fstab_line(bake.data_volume_label, data_dir, bake.data_volume_fstype),
               escape_regex_characters=True)
    rootfs.put("/usr/local/sbin/onehost-stacks", mode="755")
    rootfs.put("/etc/systemd/system/onehost-stacks.service")
    enable_at_boot("onehost-stacks.service")
