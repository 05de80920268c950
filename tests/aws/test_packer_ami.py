"""A whole amazon-ebs build against moto, SSH answered by a local stub (tests/aws/ssh_stub.py):
the three provisioning steps run in order with the builder's key, a failing image check makes
no AMI, and a passing build tags the AMI and its snapshot and writes the manifest.

pyinfra and the image suite are replaced by recording scripts: what they do to a host is the
host tier's business; here it is what Packer hands them.
"""

import json
import os
import subprocess

import paramiko
import pytest

from onehost.local.bake import packer_environment
from onehost.paths import REPO_ROOT
from tests.aws.conftest import DEBIAN_13_LATEST
from tests.aws.ssh_stub import SSHStub
from tests.tools import installed_tool

RECORDER = """#!/bin/sh
# Records its name, arguments and the key file it was given (mode, public key), then exits $EXIT.
log="{log}"
key=""; previous=""
for arg in "$@"; do
  case "$previous" in --ssh-key|--image-ssh-key) key="$arg" ;; esac
  previous="$arg"
done
{{ echo "{name} $*"; echo "key $key $(stat -c %a "$key") $(ssh-keygen -y -f "$key" | cut -d' ' -f2)"; }} >> "$log"
exit {exit_code}
"""


@pytest.fixture
def builder_key(aws, tmp_path):
    """An EC2 key pair in moto and its private key file, as a real bake could pass them."""
    key = paramiko.RSAKey.generate(2048)
    path = tmp_path / "builder_key"
    key.write_private_key_file(str(path))
    path.chmod(0o600)
    aws.client("ec2").import_key_pair(KeyName="onehost-bake-test",
                                      PublicKeyMaterial=f"ssh-rsa {key.get_base64()}".encode())
    return key, path


@pytest.fixture
def sshd(builder_key):
    stub = SSHStub(builder_key[0])
    yield stub
    stub.close()


def recorder(tmp_path, name: str, exit_code: int = 0) -> str:
    path = tmp_path / f"fake-{name}"
    path.write_text(RECORDER.format(log=tmp_path / "steps.log", name=name, exit_code=exit_code))
    path.chmod(0o755)
    return str(path)


def bake(moto_endpoint, tmp_path, builder_key, sshd, image_suite_exit: int = 0):
    manifest = tmp_path / "manifest.json"
    args = [installed_tool("packer"), "build", "-only=amazon-ebs.aws", "-color=false",
            "-var", f"custom_endpoint_ec2={moto_endpoint}", "-var", "region=eu-west-1",
            "-var", "ssh_host=127.0.0.1", "-var", f"ssh_port={sshd.port}", "-var", "ssh_timeout=30s",
            "-var", "ssh_username=packer", "-var", "ssh_keypair_name=onehost-bake-test",
            "-var", f"ssh_private_key_file={builder_key[1]}",
            "-var", 'ssh_source_cidrs=["203.0.113.7/32"]',
            "-var", "git_commit=0123abc", "-var", "version=2026.11.25-0123abc",
            "-var", f"pyinfra={recorder(tmp_path, 'pyinfra')}",
            "-var", f"python={recorder(tmp_path, 'python', image_suite_exit)}",
            "-var", f"manifest_path={manifest}", "packer/"]
    result = subprocess.run(args, cwd=REPO_ROOT, env=packer_environment(tmp_path / "packer"),
                            capture_output=True, text=True, timeout=240)
    steps = (tmp_path / "steps.log").read_text().splitlines() if (tmp_path / "steps.log").exists() else []
    return result, steps, manifest


def test_bake_runs_the_bake_the_image_suite_and_cleanup_then_tags_the_ami(aws, moto_endpoint, tmp_path,
                                                                         builder_key, sshd):
    result, steps, manifest = bake(moto_endpoint, tmp_path, builder_key, sshd)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

    commands, keys = steps[0::2], steps[1::2]
    assert [command.split()[0] for command in commands] == ["pyinfra", "python", "pyinfra"]
    assert commands[0].startswith("pyinfra --yes --sudo --ssh-key ")
    assert commands[0].endswith(f"--ssh-user packer --ssh-port {sshd.port} 127.0.0.1 deploy/bake.py")
    assert "--group-data deploy/group_data --data bake_target=aws" in commands[0]
    assert commands[1].startswith("python -m pytest packer/image_suite -p no:cacheprovider "
                                  f"--image-host ssh://packer@127.0.0.1:{sshd.port} --image-ssh-key ")
    assert commands[2].endswith("127.0.0.1 deploy/cleanup.py")
    # Each step got the builder's key in a mode-600 file, removed afterwards.
    public = builder_key[0].get_base64()
    for line in keys:
        _, path, mode, key = line.split()
        assert (mode, key) == ("600", public)
        assert not os.path.exists(path)

    ec2 = aws.client("ec2")
    image, = ec2.describe_images(Owners=["self"])["Images"]
    tags = {tag["Key"]: tag["Value"] for tag in image["Tags"]}
    assert tags["Name"] == image["Name"] and image["Name"].startswith("onehost-debian-13-")
    assert {key: tags[key] for key in ("onehost:role", "onehost:version", "onehost:git-commit",
                                       "onehost:base-ami", "onehost:base-os")} == {
        "onehost:role": "host", "onehost:version": "2026.11.25-0123abc",
        "onehost:git-commit": "0123abc", "onehost:base-ami": DEBIAN_13_LATEST["ami_id"],
        "onehost:base-os": "debian-13"}
    assert tags["onehost:build-date"].endswith("Z")
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snapshot, = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    assert {tag["Key"]: tag["Value"] for tag in snapshot["Tags"]} == tags

    build, = json.loads(manifest.read_text())["builds"]
    assert build["artifact_id"] == f"eu-west-1:{image['ImageId']}"
    assert build["custom_data"] == {"git_commit": "0123abc", "version": "2026.11.25-0123abc",
                                    "base_os": "debian-13", "base_ami": DEBIAN_13_LATEST["ami_id"],
                                    "build_date": tags["onehost:build-date"]}


def test_a_failing_image_check_makes_no_ami(aws, moto_endpoint, tmp_path, builder_key, sshd):
    result, steps, manifest = bake(moto_endpoint, tmp_path, builder_key, sshd, image_suite_exit=1)
    assert result.returncode != 0
    assert [line.split()[0] for line in steps[0::2]] == ["pyinfra", "python"]  # no cleanup either
    assert aws.client("ec2").describe_images(Owners=["self"])["Images"] == []
    assert not manifest.exists()
    assert "Terminating the source AWS instance" in result.stdout
