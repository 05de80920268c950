"""The backups console's host side: onehost-backup on each of the inventory's hosts, over SSH."""

from onehost.remote.session import inventory_sessions

TOOL = "/usr/local/sbin/onehost-backup"


def on_each_host(arguments: str) -> int:
    failed = 0
    for session in inventory_sessions():
        print(f"{session.name}:", flush=True)
        failed += session.run(f"{TOOL} {arguments}", check=False).returncode != 0
    return 1 if failed else 0
