"""The local instance reached the way every deploy and console command reaches it: its inventory
host (onehost.remote.inventory.local_instance_host) through the host session, with the local
instance's own known_hosts and host-key policy. `onehost instance up` starts the container
(onehost/local/instance.py) and then waits here until admin logs in and may sudo, as a deploy will.
"""

from pyinfra.api.exceptions import InventoryError

from onehost.local import instance
from onehost.local.instance import InstanceConfig, wait_until
from onehost.local.shell import CommandFailed
from onehost.remote.inventory import local_instance_host
from onehost.remote.session import HostSession

LOGIN_TIMEOUT = 60


def session_of(config: InstanceConfig) -> HostSession:
    try:
        return HostSession(*local_instance_host(config))
    except InventoryError as error:   # not running: the message says how to start it
        raise CommandFailed(str(error)) from None


def logs_in(session: HostSession) -> bool:
    """admin logs in over SSH and runs a command as root (what a deploy does first)."""
    try:
        return session.run("true", capture=True, check=False, timeout=30).returncode == 0
    except CommandFailed:   # the connection outlived its timeout
        return False


def wait_for_login(config: InstanceConfig, timeout: float = LOGIN_TIMEOUT, interval: float = 0.5) -> None:
    session = session_of(config)
    wait_until(lambda: logs_in(session), f"{session.data['ssh_user']} to log in to {config.name} over SSH "
                                         f"(127.0.0.1:{config.ssh_port})", timeout, interval)


def up(config: InstanceConfig) -> None:
    """The instance started (or created), booted, and reachable as the inventory reaches it."""
    instance.up(config)
    wait_for_login(config)
