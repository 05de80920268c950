"""Docker engine and the compose v2 plugin from the distribution."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt

from deploy.tasks import rootfs
from deploy.tasks.units import enable_at_boot


@deploy("Docker engine")
def install_docker_engine():
    apt.update(name="Refresh package lists", cache_time=3600)
    apt.packages(
        name="Install Docker engine and compose v2",
        packages=host.data.docker_packages,
        no_recommends=True,
    )
    rootfs.put("/etc/docker/daemon.json")
    # Enabled, not started: the image build has no systemd; the host starts it at boot.
    enable_at_boot("docker.service")
