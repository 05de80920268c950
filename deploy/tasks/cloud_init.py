"""cloud-init, which boots every host from its datasource as Debian's EC2 images boot: the
admin login from user-data, the host keys (printed to the console), the hostname.

Debian's AMIs already carry it (the AMI bake changes nothing there); the local instance gets
it here and boots from a NoCloud seed (onehost/local/instance.py). The image keeps no cloud-init
state (deploy/tasks/image_hygiene.py), so every host's first boot is a first boot.
"""

from pyinfra.api import deploy
from pyinfra.operations import apt

from deploy.lib import rootfs
from deploy.lib.units import enable_at_boot
from deploy.settings import settings

# Its boot stages (https://docs.cloud-init.io/en/latest/explanation/boot.html); the package
# enables them, and its generator adds cloud-init.target to the boot when a datasource is found.
STAGE_UNITS = ("cloud-init-main.service", "cloud-init-local.service", "cloud-init-network.service",
               "cloud-config.service", "cloud-final.service")


@deploy("cloud-init")
def install_cloud_init():
    apt.packages(name="Install cloud-init", packages=list(settings().bake.cloud_init_packages), no_recommends=True)
    rootfs.put("/etc/cloud/cloud.cfg.d/99_onehost.cfg")
    for unit in STAGE_UNITS:
        enable_at_boot(unit)
