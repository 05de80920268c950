"""onehost/commands/cloud_config.py: the first boot's user data, for EC2 and the local instance alike."""

import pytest
import yaml

from onehost.commands.cloud_config import PublicKeyError, public_key_line, user_data

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample op@laptop"


def test_user_data_is_cloud_config_that_gives_admin_the_keys():
    text = user_data([KEY, "ssh-rsa AAAAB3Nza second"])
    assert text == f'#cloud-config\nssh_authorized_keys:\n  - "{KEY}"\n  - "ssh-rsa AAAAB3Nza second"\n'
    assert text.startswith("#cloud-config\n")  # cloud-init reads a part by its first line
    assert yaml.safe_load(text) == {"ssh_authorized_keys": [KEY, "ssh-rsa AAAAB3Nza second"]}
    # A key pair alone: no empty (null) key list, which cloud-init's cc_ssh cannot extend by.
    assert yaml.safe_load(user_data([])) is None and user_data([]) == "#cloud-config\n"


def test_one_public_key_is_taken_without_its_comments():
    assert public_key_line(f"# mine\n{KEY}\n", "key.pub") == KEY


@pytest.mark.parametrize("text", ["", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", KEY + "\n" + KEY, "ssh-ed25519"])
def test_anything_but_one_public_key_is_refused(text):
    with pytest.raises(PublicKeyError, match="key.pub is not one OpenSSH public key"):
        public_key_line(text, "key.pub")
