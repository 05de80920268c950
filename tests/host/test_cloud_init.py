"""The local instance boots as EC2 boots Debian's AMI: cloud-init reads the NoCloud seed
`onehost instance up` copied in, gives admin its login, makes the host keys and prints them
to the console, which `docker logs` replays as GetConsoleOutput returns a host's."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from onehost.local import instance
from onehost.local.shell import CommandFailed

BEGIN_KEYS, END_KEYS = "-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"


@pytest.fixture(scope="module")
def seed(test_instance) -> dict:
    """The seed the instance first booted from, file name -> parsed YAML."""
    return {name: yaml.safe_load(test_instance.inner("cat", f"/{instance.SEED_DIR}/{name}").stdout)
            for name in ("meta-data", "user-data", "network-config")}


def test_cloud_init_booted_it_from_its_seed_and_knows_no_other_instance(test_instance, seed):
    report = json.loads(test_instance.inner("cloud-init", "status", "--format", "json").stdout)
    assert (report["status"], report["datasource"], report["errors"]) == ("done", "nocloud", [])
    instance_id = test_instance.inner("cloud-init", "query", "instance_id").stdout.strip()
    assert instance_id == seed["meta-data"]["instance-id"] and re.fullmatch(r"i-[0-9a-f]{17}", instance_id)
    hostname = test_instance.inner("cloud-init", "query", "local_hostname").stdout.strip()
    assert hostname == test_instance.config.name == test_instance.inner("hostname").stdout.strip()
    # The image carried no cloud-init state: the only instance it has seen is this one.
    assert test_instance.inner("ls", "/var/lib/cloud/instances").stdout.split() == [instance_id]
    # cloud-init's own schema check of what it was given (user-data, network-config).
    assert test_instance.inner("cloud-init", "schema", "--system", check=False).returncode == 0


def test_admin_login_is_the_key_cloud_init_was_given(test_instance, seed):
    public_key = Path(f"{instance.ssh_key()}.pub").read_text().strip()
    given = yaml.safe_load(test_instance.inner("cloud-init", "query", "userdata").stdout)
    assert given == seed["user-data"] and given["ssh_authorized_keys"] == [public_key]
    authorized = test_instance.inner("cat", "/home/admin/.ssh/authorized_keys").stdout.splitlines()
    assert [line for line in authorized if line and not line.startswith("#")] == [public_key]
    login = subprocess.run(["ssh", *instance.ssh_options(test_instance.config), "admin@127.0.0.1",
                            "id -un && sudo -n true"], capture_output=True, text=True, timeout=30)
    assert login.returncode == 0 and login.stdout.strip() == "admin", login.stderr


def key_block(console: str) -> set[tuple[str, str]]:
    """(type, base64) of each key between the markers cloud-init printed."""
    block = console.split(BEGIN_KEYS, 1)[1].split(END_KEYS, 1)[0]
    return {tuple(line.split()[:2]) for line in block.splitlines() if line.strip()}


def test_console_shows_exactly_the_host_keys_sshd_serves(test_instance):
    console = instance.console_output(test_instance.config)
    # Printed once, at the instance's first boot (cc_keys_to_console runs once per instance).
    assert console.count(BEGIN_KEYS) == 1 and console.count(END_KEYS) == 1, console[-3000:]
    printed = key_block(console)
    assert {key_type for key_type, _ in printed} == {"ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"}
    scan = subprocess.run(["ssh-keyscan", "-p", str(test_instance.config.ssh_port), "127.0.0.1"],
                          capture_output=True, text=True, timeout=30)
    served = {tuple(line.split()[1:3]) for line in scan.stdout.splitlines()
              if line and not line.startswith("#")}
    assert printed == served


def test_network_is_left_to_docker(test_instance, seed):
    assert seed["network-config"] == {"network": {"config": "disabled"}}
    # cloud-init rendered no network config of its own (its fallback is a DHCP file for eth0).
    rendered = test_instance.inner("sh", "-c", "ls /etc/systemd/network /etc/netplan /etc/network/interfaces.d "
                                               "2>/dev/null | grep cloud-init || true").stdout
    assert rendered == ""


def test_up_fails_naming_what_cloud_init_reported(test_instance):
    broken = instance.InstanceConfig(name=f"{test_instance.config.name}-broken", image=test_instance.config.image,
                                     ssh_port=0, http_port=0, https_port=0)  # 0: any free port
    files = instance.seed_files(instance.new_instance_id(), broken.name, [])
    files["user-data"] = "#cloud-config\nruncmd:\n  - [sh, -c, 'exit 3']\n"
    instance.reset(broken)
    try:
        subprocess.run(instance.create_command(broken), check=True, capture_output=True)
        instance.copy_seed(broken.name, files)
        subprocess.run(["docker", "start", broken.name], check=True, capture_output=True)
        with pytest.raises(CommandFailed) as failure:
            instance.up(broken)
    finally:
        instance.reset(broken)
    message = str(failure.value)
    assert message.startswith(f"cloud-init on {broken.name} ended error: "), message
    assert "status: error" in message and "scripts-user" in message, message  # `status --long`'s text
