"""How an EC2 host is reached over SSH, and which host keys are trusted there.

Reach. Every host is named by its instance id. By default (`tunnel`) SSH goes through the
stack's EC2 Instance Connect Endpoint: OpenSSH and pyinfra run
`aws ec2-instance-connect open-tunnel --instance-id ID` as their ProxyCommand, so the host's
security group needs no inbound rule from the internet and a CI runner's changing address
does not matter (EC2 User Guide, "Connect to your instances using EC2 Instance Connect
Endpoint": the CLI command works as an SSH ProxyCommand; it needs AWS CLI v2). `public` and
`private` connect to the instance's address directly (an `AdminCidr` rule, a VPN).

Trust. cloud-init prints the host's public keys to the serial console at first boot, between
`-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`
(cloud-init tools/write-ssh-key-fingerprints, run by cc_keys_to_console); `ec2:GetConsoleOutput`
reads that console without SSH. `onehost hosts` reads the keys there when it launches an
instance and records them in the instance's tags (`onehost:ssh-host-key:<type>`), which only
callers with `ec2:CreateTags` can write (the host's own role cannot). Every later connection,
the operator's or CI's, trusts exactly those keys (StrictHostKeyChecking yes) in a known_hosts
file written from the tags, keyed by the instance id; an Elastic IP moved to a new instance
is then a new name with its own keys, never a changed key behind an old name.

Nothing here does I/O: onehost/remote/ssh_files.py writes these files.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REACH_MODES = ("tunnel", "public", "private")
HOST_KEY_TAG = "onehost:ssh-host-key:"
# The types whose public key fits in an EC2 tag value (at most 256 characters: EC2 User Guide,
# "Tag restrictions"): an ed25519 key is 68 characters of base64, a nistp256 one 140; an RSA key
# is too long and is not pinned.
PINNED_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256")
BEGIN_KEYS, END_KEYS = "-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"
# One key per line, after whatever prefix the console adds (`ec2:`, a syslog header).
KEY_LINE = re.compile(r"(?P<type>ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) (?P<key>AAAA[0-9A-Za-z+/]+={0,3})(?:\s|$)")


class ReachError(ValueError):
    """A host that cannot be reached safely; the message says what to do."""


def console_host_keys(console: str) -> dict[str, str]:
    """The pinnable host keys (type -> base64) in the last complete key block of a console
    output; empty when cloud-init has not printed one yet. The last block wins: a console
    shows every boot, and only the first boot of an instance prints its keys."""
    found: dict[str, str] = {}
    block: dict[str, str] | None = None
    for line in console.splitlines():
        if BEGIN_KEYS in line:
            block = {}
        elif END_KEYS in line and block is not None:
            found, block = block, None
        elif block is not None and (match := KEY_LINE.search(line)):
            if match["type"] in PINNED_KEY_TYPES:
                block[match["type"]] = match["key"]
    return found


def host_key_tags(keys: dict[str, str]) -> dict[str, str]:
    return {f"{HOST_KEY_TAG}{key_type}": key for key_type, key in sorted(keys.items())}


def pinned_keys(tags: dict[str, str]) -> dict[str, str]:
    return {key[len(HOST_KEY_TAG):]: value for key, value in tags.items()
            if key.startswith(HOST_KEY_TAG) and key[len(HOST_KEY_TAG):] in PINNED_KEY_TYPES}


MAX_TUNNEL_SECONDS = 3600  # the endpoint's own limit per connection


def tunnel_command(instance_id: str, region: str) -> list[str]:
    """The AWS CLI v2 command that carries one SSH connection through the VPC's Instance
    Connect Endpoint (the CLI finds the endpoint of the instance's VPC itself). The duration
    (AWS CLI reference, `ec2-instance-connect open-tunnel --max-tunnel-duration`) is sent so that
    the stack's policy, which allows OpenTunnel only with ec2-instance-connect:maxTunnelDuration
    <= 3600, has the key to compare: a condition on a key missing from the request does not
    match (IAM User Guide, "IAM JSON policy elements: Condition operators")."""
    return ["aws", "ec2-instance-connect", "open-tunnel", "--instance-id", instance_id, "--region", region,
            "--max-tunnel-duration", str(MAX_TUNNEL_SECONDS)]


def instance_address(instance: dict, mode: str) -> str | None:
    if mode == "private":
        return instance.get("PrivateIpAddress")
    return instance.get("PublicIpAddress") or instance.get("PublicDnsName") or None


@dataclass(frozen=True)
class HostEntry:
    """One instance as ssh and pyinfra reach it."""
    instance_id: str
    keys: dict[str, str]
    address: str | None = None     # None: through the tunnel
    proxy_command: str | None = None


def host_entry(instance: dict, mode: str, region: str) -> HostEntry:
    """How to reach `instance` (an ec2 describe_instances item) with its pinned keys; a
    ReachError names the fix when it has none or no address."""
    if mode not in REACH_MODES:
        raise ReachError(f"reach {mode!r}: choose one of {', '.join(REACH_MODES)}")
    instance_id = instance["InstanceId"]
    keys = pinned_keys({tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])})
    if not keys:
        raise ReachError(f"{instance_id} has no pinned SSH host key (tag {HOST_KEY_TAG}<type>): run "
                         f"`onehost hosts pin-keys --instance-id {instance_id}` (it reads the keys cloud-init "
                         "printed to the instance's console)")
    if mode == "tunnel":
        return HostEntry(instance_id, keys, proxy_command=shlex.join(tunnel_command(instance_id, region)))
    address = instance_address(instance, mode)
    if not address:
        raise ReachError(f"{instance_id} has no {mode} address to reach it by: use the default "
                         "reach through the Instance Connect Endpoint (tunnel)")
    return HostEntry(instance_id, keys, address=address)


def known_hosts_lines(entry: HostEntry) -> list[str]:
    """Keyed by the instance id; a direct address is listed too, for pyinfra's SSH client,
    which looks keys up by the address it connects to (it has no HostKeyAlias)."""
    names = entry.instance_id + (f",{entry.address}" if entry.address else "")
    return [f"{names} {key_type} {key}" for key_type, key in sorted(entry.keys.items())]


def ssh_config_block(entry: HostEntry, user: str, known_hosts: Path, identity: str | None) -> str:
    lines = [f"Host {entry.instance_id}"]
    if entry.address:
        lines += [f"  HostName {entry.address}", f"  HostKeyAlias {entry.instance_id}"]
    if entry.proxy_command:
        lines.append(f"  ProxyCommand {entry.proxy_command}")
    lines += [f"  User {user}", f"  UserKnownHostsFile {known_hosts}", "  StrictHostKeyChecking yes",
              "  HostKeyAlgorithms " + ",".join(sorted(entry.keys)), "  ConnectTimeout 20"]
    if identity:
        lines += [f"  IdentityFile {identity}", "  IdentitiesOnly yes"]
    return "\n".join(lines) + "\n"
