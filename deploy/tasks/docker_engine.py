"""Docker engine and the compose v2 plugin from the distribution, and the ECR credential helper."""

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploy.lib import rootfs
from deploy.lib.units import enable_at_boot, restart_if_changed
from deploy.settings import settings


@deploy("Docker engine")
def install_docker_engine():
    apt.update(name="Refresh package lists", cache_time=3600)
    apt.packages(
        name="Install Docker engine and compose v2",
        packages=list(settings().bake.docker_packages),
        no_recommends=True,
    )
    daemon_json = rootfs.put("/etc/docker/daemon.json")
    # root's docker asks the ECR credential helper for registry credentials (the instance role).
    files.directory(name="Create /root/.docker", path="/root/.docker", user="root", group="root", mode="700")
    rootfs.put("/root/.docker/config.json", mode="600")
    # Enabled; started at boot (an image build has no systemd). A builder instance started it
    # at install, before daemon.json: it restarts with the settings.
    enable_at_boot("docker.service")
    restart_if_changed("docker.service", [daemon_json])
