"""SSH with keys only, no root login, host keys of its own, an admin who can sudo."""

import pytest

from .conftest import GROUP_DATA


@pytest.fixture(scope="module")
def sshd(image_host) -> dict:
    """sshd's effective settings (`sshd -T`), lower-case keys."""
    lines = image_host.check_output("sshd -T").splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)


def test_keys_only(sshd):
    assert sshd["passwordauthentication"] == "no"
    assert sshd["kbdinteractiveauthentication"] == "no"
    assert sshd["pubkeyauthentication"] == "yes"


def test_no_root_login(sshd):
    assert sshd["permitrootlogin"] == "no"


def test_sshd_runs_with_host_keys_made_on_this_host(image_host):
    assert image_host.service("ssh").is_enabled and image_host.service("ssh").is_running
    fingerprint = image_host.run("ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub")
    assert fingerprint.rc == 0 and "ED25519" in fingerprint.stdout


def test_admin_can_sudo(image_host):
    admin = GROUP_DATA["admin_user"]
    assert "sudo" in image_host.user(admin).groups
    assert image_host.run(f"runuser -u {admin} -- sudo -n true").rc == 0


def test_machine_id_made_on_first_boot(image_host):
    machine_id = image_host.file("/etc/machine-id").content_string.strip()
    assert len(machine_id) == 32 and int(machine_id, 16)
