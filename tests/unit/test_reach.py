"""onehost.commands.reach: the host keys read from a console, the tags that pin them, and the ssh_config
and known_hosts that trust only them, as exact texts."""

from pathlib import Path

import pytest

from onehost.commands import reach
from onehost.remote.ssh_files import SshFiles

ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOne"
ECDSA = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHostKeyTwo="
RSA = "AAAAB3NzaC1yc2EAAAADAQABAAABgQC" + "x" * 500

# As an EC2 console shows cloud-init's block: `logger --stderr -t ec2` puts a syslog header
# before each line (cloud-init tools/write-ssh-key-fingerprints).
CONSOLE = f"""[    3.1] systemd[1]: Starting cloud-final.service
<14>Dec  6 05:30:00 ec2:
<14>Dec  6 05:30:00 ec2: #############################################################
<14>Dec  6 05:30:00 ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
<14>Dec  6 05:30:00 ec2: 256 SHA256:abc root@host (ED25519)
<14>Dec  6 05:30:00 ec2: -----END SSH HOST KEY FINGERPRINTS-----
<14>Dec  6 05:30:00 ec2: -----BEGIN SSH HOST KEY KEYS-----
<14>Dec  6 05:30:00 ec2: ecdsa-sha2-nistp256 {ECDSA} root@host
<14>Dec  6 05:30:00 ec2: ssh-ed25519 {ED25519} root@host
<14>Dec  6 05:30:00 ec2: ssh-rsa {RSA} root@host
<14>Dec  6 05:30:00 ec2: -----END SSH HOST KEY KEYS-----
Debian GNU/Linux 13 host ttyS0
"""


def test_the_console_block_gives_the_keys_that_fit_a_tag():
    assert reach.console_host_keys(CONSOLE) == {"ecdsa-sha2-nistp256": ECDSA, "ssh-ed25519": ED25519}


@pytest.mark.parametrize("console", [
    "",
    "Cloud-init v. 25.1 running 'init'\n",
    # Cut off before the END line: a console read while cloud-init was still writing.
    CONSOLE.split("ssh-rsa")[0],
])
def test_no_complete_block_gives_no_keys(console):
    assert reach.console_host_keys(console) == {}


def test_the_last_block_wins():
    later = CONSOLE.replace(ED25519, "AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyNew")
    assert reach.console_host_keys(CONSOLE + later)["ssh-ed25519"] == "AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyNew"


def test_keys_round_trip_through_tags_within_the_tag_value_limit():
    tags = reach.host_key_tags({"ssh-ed25519": ED25519, "ecdsa-sha2-nistp256": ECDSA})
    assert tags == {"onehost:ssh-host-key:ecdsa-sha2-nistp256": ECDSA, "onehost:ssh-host-key:ssh-ed25519": ED25519}
    assert reach.pinned_keys({**tags, "Name": "x", "onehost:ssh-host-key:ssh-rsa": "AAAA"}) == {
        "ecdsa-sha2-nistp256": ECDSA, "ssh-ed25519": ED25519}
    # EC2 tag values hold at most 256 characters: a real nistp256 key is 140 of base64.
    assert all(len(value) <= 256 for value in tags.values())


def test_the_tunnel_is_the_aws_clis_open_tunnel():
    assert reach.tunnel_command("i-0abc", "eu-west-1") == [
        "aws", "ec2-instance-connect", "open-tunnel", "--instance-id", "i-0abc", "--region", "eu-west-1",
        "--max-tunnel-duration", "3600"]


INSTANCE = {"InstanceId": "i-0abc", "PublicIpAddress": "203.0.113.10", "PrivateIpAddress": "10.0.1.5",
            "Tags": [{"Key": "onehost:ssh-host-key:ssh-ed25519", "Value": ED25519}]}


def test_through_the_tunnel_the_host_is_its_instance_id(tmp_path):
    files = SshFiles(tmp_path, "admin", "/keys/admin")
    data = files.add(reach.host_entry(INSTANCE, "tunnel", "eu-west-1"))
    files.write()
    assert data == {"ssh_hostname": "i-0abc", "ssh_user": "admin", "ssh_config_file": str(tmp_path / "ssh_config"),
                    "ssh_known_hosts_file": str(tmp_path / "known_hosts"), "ssh_strict_host_key_checking": "yes",
                    "ssh_key": "/keys/admin"}
    assert (tmp_path / "known_hosts").read_text() == f"i-0abc ssh-ed25519 {ED25519}\n"
    assert (tmp_path / "ssh_config").read_text() == (
        "Host i-0abc\n"
        "  ProxyCommand aws ec2-instance-connect open-tunnel --instance-id i-0abc --region eu-west-1"
        " --max-tunnel-duration 3600\n"
        "  User admin\n"
        f"  UserKnownHostsFile {tmp_path / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n"
        "  HostKeyAlgorithms ssh-ed25519\n"
        "  ConnectTimeout 20\n"
        "  IdentityFile /keys/admin\n"
        "  IdentitiesOnly yes\n")


def test_a_direct_address_keeps_the_instance_id_as_the_key_alias(tmp_path):
    files = SshFiles(tmp_path, "admin")
    files.add(reach.host_entry(INSTANCE, "public", "eu-west-1"))
    files.write()
    assert (tmp_path / "known_hosts").read_text() == f"i-0abc,203.0.113.10 ssh-ed25519 {ED25519}\n"
    assert (tmp_path / "ssh_config").read_text().startswith(
        "Host i-0abc\n  HostName 203.0.113.10\n  HostKeyAlias i-0abc\n  User admin\n")


@pytest.mark.parametrize("instance, mode, message", [
    ({**INSTANCE, "Tags": []}, "tunnel",
     "i-0abc has no pinned SSH host key .*`onehost hosts pin-keys --instance-id i-0abc`"),
    ({"InstanceId": "i-0abc", "Tags": INSTANCE["Tags"]}, "public", "i-0abc has no public address"),
    (INSTANCE, "vpn", "reach 'vpn': choose one of tunnel, public, private"),
])
def test_a_host_that_cannot_be_reached_safely_is_named(instance, mode, message):
    with pytest.raises(reach.ReachError, match=message):
        reach.host_entry(instance, mode, "eu-west-1")


def test_the_files_are_private(tmp_path):
    files = SshFiles(tmp_path / "aws", "admin")
    files.add(reach.host_entry(INSTANCE, "tunnel", "eu-west-1"))
    files.write()
    assert Path(tmp_path / "aws").stat().st_mode & 0o777 == 0o700
