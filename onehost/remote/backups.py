"""The backups console's host side: onehost-backup on each of the inventory's hosts, over SSH."""

from onehost.local.shell import CommandFailed, run
from onehost.remote.history import ssh_command
from onehost.remote.inventory import hosts_from_environment

TOOL = "sudo /usr/local/sbin/onehost-backup"


def _hosts():
    try:
        return hosts_from_environment()
    except Exception as error:   # the inventory's errors say what to do
        raise CommandFailed(str(error)) from None


def on_each_host(arguments: str) -> int:
    failed = 0
    for hostname, data in _hosts():
        print(f"{hostname}:", flush=True)
        failed += run(ssh_command(hostname, data, f"{TOOL} {arguments}"), check=False).returncode != 0
    return 1 if failed else 0
