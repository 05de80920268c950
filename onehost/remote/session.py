"""Reaching a host from this machine: the one SSH stack every command that runs on a host shares.

A host is what the inventory (onehost/remote/inventory.py) hands pyinfra: a name and its
connection data (ssh_hostname, ssh_user, ssh_port, ssh_key, ssh_config_file,
ssh_known_hosts_file, ssh_strict_host_key_checking). `HostSession` reads that same data into an
OpenSSH command line the way pyinfra's SSH connector reads it, so a deploy and every console
command (`onehost releases`, `onehost backups list|drill`, the host side of `onehost hosts`)
trust exactly the same host keys, with one policy per kind of host:

- EC2 hosts: the ssh_config (ProxyCommand through the Instance Connect Endpoint, HostKeyAlias)
  and the known_hosts written from the keys pinned in the instance's tags
  (onehost/commands/reach.py, onehost/remote/ssh_files.py), StrictHostKeyChecking yes;
- the local instance: its own known_hosts, removed whenever a new container is made, accept-new;
- static hosts (ONEHOST_HOSTS): the user's known_hosts with pyinfra's own default, accept-new.

The one exception is Packer's temporary build instance (packer/onehost.pkr.hcl): it lives for
one bake, nothing has pinned its keys, and the bake's throwaway known_hosts accepts its first key.
No module outside onehost/remote/ builds an `ssh` command line (tests/unit/test_session.py).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyinfra.connectors.ssh import SSHConnector

from onehost.local.shell import CommandFailed, run

# What pyinfra's SSH connector does when the inventory names no policy (pyinfra/connectors/ssh.py,
# data_meta "ssh_strict_host_key_checking"): read from pyinfra so the two cannot drift apart.
DEPLOY_DEFAULT_POLICY = SSHConnector.data_meta["ssh_strict_host_key_checking"].default
# Never prompt (a console command has no one to answer); fail fast when the host is down.
BATCH_OPTIONS = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]


def host_key_policy(data: Mapping[str, Any]) -> str:
    """The StrictHostKeyChecking the deploys use for this host."""
    return str(data.get("ssh_strict_host_key_checking") or DEPLOY_DEFAULT_POLICY)


def ssh_arguments(hostname: str, data: Mapping[str, Any]) -> list[str]:
    """`ssh` with the inventory's connection settings, up to the destination (no remote command).

    Options given with -o come before -F: OpenSSH keeps the first value it reads for an option
    (ssh_config(5), https://man.openbsd.org/ssh_config: "For each parameter, the first
    obtained value will be used"), so the policy here is the one that applies even where a config file says more.
    """
    command = ["ssh", *BATCH_OPTIONS]
    if data.get("ssh_port"):
        command += ["-p", str(data["ssh_port"])]
    if data.get("ssh_key"):
        command += ["-i", str(data["ssh_key"])]
    if data.get("ssh_known_hosts_file"):
        command += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    command += ["-o", f"StrictHostKeyChecking={host_key_policy(data)}"]
    if data.get("ssh_config_file"):  # an EC2 host: its ProxyCommand and pinned keys (onehost.commands.reach)
        command += ["-F", str(data["ssh_config_file"])]
    target = data.get("ssh_hostname") or hostname
    user = data.get("ssh_user")
    command.append(f"{user}@{target}" if user else target)
    return command


def root_shell(script: str) -> str:
    """The remote command line: the script in sh, as root (/data and docker are root's)."""
    return "sudo sh -c " + shlex.quote(script)


@dataclass(frozen=True)
class HostSession:
    """One inventory host, and the way to run a shell script on it as root over SSH."""
    name: str
    data: Mapping[str, Any]

    def command(self, script: str, *, terminal: bool = False) -> list[str]:
        """`terminal`: ask sshd for a pseudo-terminal (`ssh -t`), for a prompt on the host
        (ssh(1): "-t Force pseudo-terminal allocation ... for screen-based programs"), and keep
        ssh's own "Connection to ... closed." off it (LogLevel ERROR still prints errors)."""
        arguments = ssh_arguments(self.name, self.data)
        if terminal:
            arguments[1:1] = ["-t", "-o", "LogLevel=ERROR"]
        return [*arguments, root_shell(script)]

    def run(self, script: str, *, capture: bool = False, check: bool = True,
            timeout: float | None = None) -> subprocess.CompletedProcess:
        """The script on the host; CommandFailed (with its last lines of stderr when captured)
        when it fails and `check` is set, or outlives `timeout` seconds."""
        return run(self.command(script), capture=capture, check=check, timeout=timeout)

    def output(self, script: str, timeout: float | None = None) -> str:
        """What the script printed, stripped."""
        return self.run(script, capture=True, timeout=timeout).stdout.decode().strip()


def chosen_sessions(host_name: str | None, environ: Mapping[str, str] = os.environ) -> list[HostSession]:
    """The inventory's hosts, or the one named `host_name` (CommandFailed naming the ones there are)."""
    sessions = inventory_sessions(environ)
    if host_name is None:
        return sessions
    chosen = [session for session in sessions if session.name == host_name]
    if not chosen:
        names = ", ".join(session.name for session in sessions) or "none"
        raise CommandFailed(f"no host named {host_name!r} in the inventory (its hosts: {names}); "
                            "give one of those to --host, or leave --host out")
    return chosen


def one_session(host_name: str | None, environ: Mapping[str, str] = os.environ) -> HostSession:
    """The host a console command works on: the named one, or the inventory's only host."""
    sessions = chosen_sessions(host_name, environ)
    if len(sessions) > 1:
        names = ", ".join(session.name for session in sessions)
        raise CommandFailed(f"the inventory has {len(sessions)} hosts ({names}): say which with --host")
    return sessions[0]


def inventory_sessions(environ: Mapping[str, str] = os.environ) -> list[HostSession]:
    """The hosts a deploy with the same environment would reach, as sessions."""
    # Imported here: the inventory pulls in pyinfra's paramiko patch and the local instance,
    # which the swap's host side (onehost.aws.hosts) has no use for.
    from onehost.remote.inventory import hosts_from_environment
    try:
        hosts = hosts_from_environment(environ)
    except Exception as error:   # the inventory's errors say what to do
        raise CommandFailed(str(error)) from None
    return [HostSession(hostname, data) for hostname, data in hosts]
