"""SSH with keys only, no root login, and an admin user who can sudo."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, server

from deploy.lib import rootfs
from deploy.lib.units import enable_at_boot, restart_if_changed
from deploy.settings import settings


@deploy("SSH access")
def configure_ssh_access():
    admin = settings().bake.admin_user
    server.user(
        name=f"Create the {admin} user",
        user=admin,
        shell="/bin/bash",
        create_home=True,
        groups=["sudo"],
    )
    files.directory(name=f"Create ~{admin}/.ssh", path=f"/home/{admin}/.ssh",
                    user=admin, group=admin, mode="700")
    sudoers = files.put(
        name=f"Let {admin} sudo without a password (it has no password)",
        src=StringIO(f"{admin} ALL=(ALL:ALL) NOPASSWD:ALL\n"),
        dest=f"/etc/sudoers.d/90-{admin}",
        user="root",
        group="root",
        mode="440",
    )
    server.shell(name="Check sudoers syntax", commands=["visudo --check --quiet"],
                 _if=sudoers.did_change)
    sshd_config = rootfs.put("/etc/ssh/sshd_config.d/10-onehost.conf")
    server.shell(name="Check sshd configuration", commands=["mkdir -p /run/sshd && sshd -t"],
                 _if=sshd_config.did_change)
    # The image carries no host keys. cloud-init makes each host's own (deploy/tasks/cloud_init.py);
    # this unit makes them on a boot where cloud-init found no datasource and stood aside.
    rootfs.put("/etc/systemd/system/onehost-ssh-hostkeys.service")
    for unit in ("onehost-ssh-hostkeys.service", "ssh.service"):
        enable_at_boot(unit)
    restart_if_changed("ssh.service", [sshd_config], action="reload")
