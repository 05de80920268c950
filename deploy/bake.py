"""The bake: everything that is the same on every host, run by Packer before the snapshot.

    pyinfra --group-data deploy/group_data @docker/<build container> deploy/bake.py

One task per concern; each is idempotent, so a second run changes nothing.
"""

from deploy.tasks.backup_tooling import install_backup_tooling
from deploy.tasks.boot_stacks import start_stacks_at_boot
from deploy.tasks.certbot import install_certbot
from deploy.tasks.cloud_init import install_cloud_init
from deploy.tasks.cloudwatch import configure_cloudwatch_agent
from deploy.tasks.docker_engine import install_docker_engine
from deploy.tasks.hardening import harden_host
from deploy.tasks.ssh_access import configure_ssh_access

install_docker_engine()
harden_host()
install_cloud_init()
configure_ssh_access()
install_backup_tooling()
install_certbot()
configure_cloudwatch_agent()
start_stacks_at_boot()
