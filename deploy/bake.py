"""The bake: everything that is the same on every host, run by Packer before the snapshot.

    pyinfra --group-data deploy/group_data @docker/<build container> deploy/bake.py
"""

from deploy.tasks.docker_engine import install_docker_engine
from deploy.tasks.ssh_access import configure_ssh_access

install_docker_engine()
configure_ssh_access()
