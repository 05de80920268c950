"""systemd units enabled at boot, without needing systemd to be running (image builds)."""

from pyinfra import host
from pyinfra.operations import server

from deploy.facts import SystemdUnitEnabled


def enable_at_boot(unit: str):
    if host.get_fact(SystemdUnitEnabled, unit=unit):
        host.noop(f"{unit} is enabled")
        return None
    return server.shell(name=f"Enable {unit} at boot", commands=[f"systemctl enable {unit}"])
