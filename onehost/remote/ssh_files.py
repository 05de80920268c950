"""The ssh_config and known_hosts files that reach EC2 hosts (their text: onehost/commands/reach.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onehost.commands.reach import HostEntry, known_hosts_lines, ssh_config_block


@dataclass
class SshFiles:
    """An ssh_config and its known_hosts for a set of hosts, in one directory: what `ssh -F`,
    testinfra's --ssh-config and pyinfra's ssh_config_file read."""
    directory: Path
    user: str
    identity: str | None = None

    def __post_init__(self):
        self.entries: dict[str, HostEntry] = {}

    @property
    def config(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    def add(self, entry: HostEntry) -> dict:
        """Record the host and return its pyinfra connection data (call `write` after)."""
        self.entries[entry.instance_id] = entry
        data = {"ssh_hostname": entry.instance_id, "ssh_user": self.user,
                "ssh_config_file": str(self.config), "ssh_known_hosts_file": str(self.known_hosts),
                "ssh_strict_host_key_checking": "yes"}
        if self.identity:
            data["ssh_key"] = self.identity
        return data

    def write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        entries = sorted(self.entries.values(), key=lambda entry: entry.instance_id)
        self.known_hosts.write_text("".join(line + "\n" for entry in entries for line in known_hosts_lines(entry)))
        self.config.write_text("\n".join(ssh_config_block(entry, self.user, self.known_hosts, self.identity)
                                         for entry in entries))
