"""The bake: idempotent, gated by the image suite, and an image every host makes its own."""

import os
import subprocess

import pytest

from onehost.local import bake, instance
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT
from tests.host.test_deploy import changes_reported

MISSING_PACKAGE = "onehost-no-such-package"


def run_bake(container: str) -> str:
    result = subprocess.run([str(REPO_ROOT / ".venv/bin/pyinfra"), "--yes", "--group-data",
                             "deploy/group_data", f"@docker/{container}", "deploy/bake.py"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def test_second_bake_run_changes_nothing(test_instance):
    # The first run may refresh the package lists the image was cleaned of.
    run_bake(test_instance.config.name)
    output = run_bake(test_instance.config.name)
    assert changes_reported(output) == 0, output[-3000:]


def images(repository: str) -> list[str]:
    return subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
                          capture_output=True, text=True, check=True).stdout.split()


def test_failing_image_check_fails_the_bake_and_leaves_no_image(test_instance):
    repository = "onehost/instance-gatecheck"
    with pytest.raises(CommandFailed) as failure:
        bake.bake_local_image(force=True, expect_packages=[MISSING_PACKAGE], repository=repository)
    assert f"test_package_installed[{MISSING_PACKAGE}]" in str(failure.value)
    assert images(repository) == []
    ours = f"-{os.getpid()}"
    assert [image for image in images(bake.CANDIDATE_REPOSITORY) if image.endswith(ours)] == []
    leftover = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter",
                               f"name=onehost-candidate-.*{ours}$"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def identity(container: str) -> tuple[str, str]:
    """(SSH host key fingerprint, machine-id) of a running instance."""
    def inner(*command):
        return subprocess.run(["docker", "exec", container, *command], capture_output=True,
                              text=True, check=True).stdout.strip()
    return inner("ssh-keygen", "-l", "-f", "/etc/ssh/ssh_host_ed25519_key.pub"), inner("cat", "/etc/machine-id")


def test_every_instance_makes_its_own_host_keys_and_machine_id(test_instance):
    image = subprocess.run(["docker", "inspect", "--format", "{{.Image}}", test_instance.config.name],
                           capture_output=True, text=True, check=True).stdout.strip()
    fresh = instance.InstanceConfig(name=f"onehost-test-fresh-{os.getpid()}", image=image)
    instance.reset(fresh)
    try:
        subprocess.run(bake.candidate_run_command(fresh), capture_output=True, check=True)
        instance.wait_until(lambda: instance._systemd_settled(fresh), "systemd on the fresh instance", 90)
        instance.wait_until(lambda: subprocess.run(
            ["docker", "exec", fresh.name, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub"]
        ).returncode == 0, "host keys on the fresh instance", 30)
        fresh_keys, fresh_machine = identity(fresh.name)
    finally:
        instance.reset(fresh)
    keys, machine = identity(test_instance.config.name)
    assert len(fresh_machine) == 32 and fresh_machine != machine
    assert "ED25519" in fresh_keys and fresh_keys != keys
