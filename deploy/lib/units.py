"""systemd units enabled at boot, without needing systemd to be running (image builds).

On a host that systemd runs (the AMI's builder instance, a live host), units also start or
reload now, so the image suite sees them working before the snapshot; an image build
container has no systemd and gets them at first boot.
"""

from pyinfra import host
from pyinfra.operations import server

from deploy.facts import (
    InContainer,
    SystemdBooted,
    SystemdUnitActive,
    SystemdUnitEnabled,
)


def enable_at_boot(unit: str):
    if host.get_fact(SystemdUnitEnabled, unit=unit):
        host.noop(f"{unit} is enabled")
        return None
    return server.shell(name=f"Enable {unit} at boot", commands=[f"systemctl enable {unit}"])


def start_now(unit: str, real_host_only: bool = False):
    """Start `unit` when systemd runs this host and it is not active yet. `real_host_only`:
    a unit that skips itself in containers (ConditionVirtualization=!container)."""
    if not host.get_fact(SystemdBooted) or (real_host_only and host.get_fact(InContainer)):
        host.noop(f"{unit} starts at boot")
        return None
    if host.get_fact(SystemdUnitActive, unit=unit):
        host.noop(f"{unit} is active")
        return None
    return server.shell(name=f"Start {unit}", commands=[f"systemctl daemon-reload && systemctl start {unit}"])


def restart_if_changed(unit: str, changes, action: str = "restart"):
    """Restart (or reload) a running unit after its configuration changed, when systemd runs."""
    if not host.get_fact(SystemdBooted):
        return None
    return server.shell(
        name=f"{action.capitalize()} {unit} for its new configuration",
        commands=[f"if systemctl is-active --quiet {unit}; then systemctl {action} {unit}; fi"],
        _if=lambda: any(op.did_change() for op in changes),
    )
