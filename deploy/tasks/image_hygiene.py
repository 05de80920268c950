"""What makes a host unique is removed before the image is committed; first boot remakes it."""

from pyinfra.api import deploy
from pyinfra.operations import files, server


@deploy("Image hygiene")
def clean_image():
    # The builder's cloud-init state (its instance, its seed, the once-per-image semaphores in
    # /var/lib/cloud/sem) and logs: a host starts with none, so its first boot is cloud-init's
    # first boot (https://docs.cloud-init.io/en/latest/reference/cli.html#clean).
    server.shell(name="Remove cloud-init's instance state, seed and logs",
                 commands=["cloud-init clean --logs --seed"])
    server.shell(
        name="Remove SSH host keys, machine identity, builder keys, caches and logs",
        commands=[
            "rm -f /etc/ssh/ssh_host_*",
            "truncate -s 0 /etc/machine-id",
            "rm -f /var/lib/dbus/machine-id",
            "rm -f /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys",
            "apt-get clean",
            # Each host makes its own swap file on first boot (a builder made one at the bake).
            "if [ -f /swapfile ]; then swapoff /swapfile 2>/dev/null || true; rm -f /swapfile; fi",
            "rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*",
            # Without its lists, the next apt.update (a later bake) must not think them fresh.
            "rm -f /var/lib/apt/periodic/update-success-stamp",
            "find /var/log -type f -exec truncate -s 0 {} +",
        ],
    )
    files.file(name="Keep machine-id present and empty so first boot fills it",
               path="/etc/machine-id", present=True, mode="444")
