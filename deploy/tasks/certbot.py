"""certbot for the edge's certificates: the package, the renewal timer and its nginx reload hook.

The certificates themselves belong to the deploy (deploy/tasks/certificates.py) and live on the
data volume; the image only carries the tools and the schedule.
"""

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploy.lib import rootfs
from deploy.lib.units import enable_at_boot, start_now
from deploy.settings import settings


@deploy("certbot")
def install_certbot():
    apt.packages(name="Install certbot and openssl", packages=list(settings().bake.tls_packages), no_recommends=True)
    # Debian's own certbot.timer renews /etc/letsencrypt; ours renews /data/letsencrypt and reloads nginx.
    files.link(name="Mask Debian's certbot.timer", path="/etc/systemd/system/certbot.timer",
               target="/dev/null")
    rootfs.put("/usr/local/sbin/onehost-certbot-renew", mode="755")
    # Run by the renewal after each attempt. Python (the suffix keeps the shell linters off it):
    # python3-cryptography comes with certbot's packages, python3-boto3 with the backup tooling.
    rootfs.put("/usr/local/sbin/onehost-certificate-expiry.py", mode="755")
    rootfs.put("/usr/local/sbin/onehost-reload-edge", mode="755")
    # Run by the deploy and the hook: nginx's workers read the certificates (loaded per handshake).
    rootfs.put("/usr/local/sbin/onehost-certificate-access", mode="755")
    rootfs.put("/etc/systemd/system/onehost-certbot-renew.service")
    rootfs.put("/etc/systemd/system/onehost-certbot-renew.timer")
    enable_at_boot("onehost-certbot-renew.timer")
    start_now("onehost-certbot-renew.timer")
