"""Packer's amazon-ebs source against the moto server: the filter finds the base image and the
builder instance is launched with the template's settings.

SSH to a moto instance cannot work, so the build stops at "Timeout waiting for SSH" (Packer is
pointed at a closed local port, so nothing leaves this machine). The test watches moto while
Packer waits, then checks that Packer cleaned up and made no AMI.
"""

import subprocess
import time
from dataclasses import dataclass, field

import pytest

from onehost.local.bake import packer_environment
from onehost.paths import REPO_ROOT
from tests.aws.conftest import DEBIAN_13_LATEST
from tests.moto_server import free_port
from tests.tools import installed_tool

DEADLINE_SECONDS = 120
BUILDER = [{"Name": "tag:onehost:role", "Values": ["builder"]},
           {"Name": "instance-state-name", "Values": ["running"]}]
SSH_SOURCES = '["203.0.113.7/32"]'  # a documentation address (RFC 5737)


@dataclass
class Launch:
    instance: dict
    root_volume: dict
    key_pairs: list = field(default_factory=list)
    security_groups: list = field(default_factory=list)
    ssh_port: int = 0
    output: str = ""
    returncode: int | None = None


def packer_build(endpoint: str, scratch, ssh_port: int, **variables) -> subprocess.Popen:
    """`packer build` of the AMI source against moto; a variable given as None is left out."""
    # SSH goes to a closed port here, refused at once; 8 s is long enough to look at the builder.
    args = [installed_tool("packer"), "build", "-only=amazon-ebs.aws", "-color=false",
            "-var", f"custom_endpoint_ec2={endpoint}", "-var", "region=eu-west-1",
            "-var", "ssh_timeout=8s", "-var", "ssh_host=127.0.0.1",
            "-var", f"ssh_port={ssh_port}", "-var", "git_commit=0123abc"]
    for name, value in {"ssh_source_cidrs": SSH_SOURCES, **variables}.items():
        if value is not None:
            args += ["-var", f"{name}={value}"]
    return subprocess.Popen([*args, "packer/"], cwd=REPO_ROOT, env=packer_environment(scratch),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def launch(aws, endpoint: str, scratch, **variables) -> Launch:
    """Run the build until it gives up on SSH; what moto held while the builder ran."""
    ec2 = aws.client("ec2")
    ssh_port = free_port()
    process = packer_build(endpoint, scratch, ssh_port, **variables)
    deadline = time.monotonic() + DEADLINE_SECONDS
    seen = None
    try:
        while seen is None and process.poll() is None and time.monotonic() < deadline:
            instances = [instance for reservation in ec2.describe_instances(Filters=BUILDER)["Reservations"]
                         for instance in reservation["Instances"]]
            # moto can list the instance a moment before its root volume is attached
            attached = instances and instances[0]["BlockDeviceMappings"]
            volumes = attached and ec2.describe_volumes(Filters=[
                {"Name": "attachment.instance-id", "Values": [instances[0]["InstanceId"]]}])["Volumes"]
            if volumes:
                seen = Launch(instance=instances[0], root_volume=volumes[0],
                              key_pairs=ec2.describe_key_pairs()["KeyPairs"],
                              security_groups=ec2.describe_security_groups()["SecurityGroups"])
            else:
                time.sleep(0.3)
        output, _ = process.communicate(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"packer did not finish in {DEADLINE_SECONDS}s:\n{output[-3000:]}")
    if seen is None:
        pytest.fail(f"packer launched no builder instance (exit {process.returncode}):\n{output[-3000:]}")
    seen.ssh_port, seen.output, seen.returncode = ssh_port, output, process.returncode
    return seen


def packer_made(security_groups: list) -> list:
    return [group for group in security_groups if group["GroupName"].startswith("packer_")]


@pytest.fixture
def debian_launch(aws, moto_endpoint, tmp_path):
    return launch(aws, moto_endpoint, tmp_path, ssh_source_cidrs=SSH_SOURCES)


def test_the_filter_picks_the_newest_debian_13(debian_launch):
    assert debian_launch.instance["ImageId"] == DEBIAN_13_LATEST["ami_id"]
    assert f"Found Image ID: {DEBIAN_13_LATEST['ami_id']}" in debian_launch.output


def test_the_builder_is_a_t3_micro_on_an_encrypted_gp3_root(debian_launch):
    assert debian_launch.instance["InstanceType"] == "t3.micro"
    mapping, = debian_launch.instance["BlockDeviceMappings"]
    assert mapping["DeviceName"] == DEBIAN_13_LATEST["root_device_name"]
    assert mapping["Ebs"]["DeleteOnTermination"] is True
    volume = debian_launch.root_volume
    # moto does not report gp3 throughput; the template sets it to 125.
    assert (volume["VolumeType"], volume["Size"], volume["Iops"], volume["Encrypted"]) == ("gp3", 8, 3000, True)
    assert {"Key": "onehost:role", "Value": "builder"} in debian_launch.instance["Tags"]


def test_the_builder_uses_packers_temporary_key_pair_and_security_group(debian_launch):
    key_pair, = debian_launch.key_pairs
    assert key_pair["KeyName"].startswith("packer_")
    assert debian_launch.instance["KeyName"] == key_pair["KeyName"]
    group, = packer_made(debian_launch.security_groups)
    assert [g["GroupId"] for g in debian_launch.instance["SecurityGroups"]] == [group["GroupId"]]
    rule, = group["IpPermissions"]
    port = debian_launch.ssh_port  # the template's ssh_port: 22 unless a test moves it
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", port, port)
    assert [r["CidrIp"] for r in rule["IpRanges"]] == ["203.0.113.7/32"]


def test_without_ssh_the_build_fails_cleans_up_and_makes_no_ami(debian_launch, aws):
    assert debian_launch.returncode != 0
    assert "Timeout waiting for SSH" in debian_launch.output
    ec2 = aws.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[debian_launch.instance["InstanceId"]])
    assert instance["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert packer_made(ec2.describe_security_groups()["SecurityGroups"]) == []
    assert ec2.describe_images(Owners=["self"])["Images"] == []


def test_the_root_volume_size_is_a_variable(aws, moto_endpoint, tmp_path):
    built = launch(aws, moto_endpoint, tmp_path, root_volume_gib=12)
    assert built.instance["ImageId"] == DEBIAN_13_LATEST["ami_id"]
    mapping, = built.instance["BlockDeviceMappings"]
    assert mapping["DeviceName"] == "/dev/xvda"
    assert (built.root_volume["Size"], built.root_volume["Encrypted"]) == (12, True)


def test_without_ssh_sources_nothing_is_created(aws, moto_endpoint, tmp_path):
    """Packer 1.6.6 would open the builder's SSH to 0.0.0.0/0 for an empty list; the template
    stops at the base image lookup instead, and says which variable to set."""
    process = packer_build(moto_endpoint, tmp_path, free_port(), ssh_source_cidrs=None)
    output, _ = process.communicate(timeout=DEADLINE_SECONDS)
    assert process.returncode != 0
    assert "ssh_source_cidrs is empty: pass -var" in output
    ec2 = aws.client("ec2")
    assert ec2.describe_instances(Filters=[{"Name": "tag:onehost:role", "Values": ["builder"]}])["Reservations"] == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert packer_made(ec2.describe_security_groups()["SecurityGroups"]) == []
