"""The committed image carries nothing that makes a host unique (a local image only)."""

import subprocess

import pytest


@pytest.fixture(scope="module")
def image_shell(committed_image):
    if not committed_image:
        pytest.skip("no committed image to inspect (--image): a remote build is cleaned after the suite")

    def run(script: str) -> str:
        return subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh",
                               committed_image, "-c", script],
                              capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    return run


def test_no_ssh_host_keys(image_shell):
    assert image_shell("ls /etc/ssh/ | grep ssh_host_ || true") == ""


def test_machine_id_empty(image_shell):
    assert image_shell("test -f /etc/machine-id && wc -c < /etc/machine-id") == "0"


def test_no_authorized_keys(image_shell):
    assert image_shell("find /root /home -name authorized_keys") == ""


def test_no_apt_lists_logs_or_swap_file(image_shell):
    assert image_shell("find /var/lib/apt/lists -type f ! -name lock") == ""
    assert image_shell("find /var/log -type f -size +0") == ""
    assert image_shell("ls /swapfile 2>/dev/null || true") == ""


def test_no_cloud_init_instance_state_seed_or_logs(image_shell):
    # `cloud-init clean --logs --seed` ran: each host's first boot is cloud-init's first boot.
    assert image_shell("find /var/lib/cloud -mindepth 1 2>/dev/null || true") == ""
    assert image_shell("find /var/log -maxdepth 1 -name 'cloud-init*'") == ""
