import subprocess
from datetime import UTC, datetime

import pytest

from onehost.aws import hosts
from onehost.cli.hosts import login_keys
from onehost.local.shell import CommandFailed
from tests.tools import installed_tool

ENV = hosts.Environment(project="timewarp", name="production", security_group_id="sg-1",
                        instance_profile_arn="arn:aws:iam::1:instance-profile/p", data_volume_id="vol-0abc",
                        allocation_id="eipalloc-1", availability_zone="eu-west-1a", address="203.0.113.10")
IMAGE = {"ImageId": "ami-2", "Name": "onehost-20261201", "Tags": [{"Key": "onehost:version", "Value": "2026.12.1"}]}


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample op@laptop"


def test_run_request_is_imdsv2_one_hop_standard_credits_in_the_volume_zone_with_the_profile_and_tags():
    tags = hosts.instance_tags(ENV, IMAGE, previous_image="ami-1")
    request = hosts.run_request(ENV, "ami-2", "t3.micro", None, tags, (KEY,))
    assert request == {
        "ImageId": "ami-2", "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1,
        "IamInstanceProfile": {"Arn": "arn:aws:iam::1:instance-profile/p"},
        "SecurityGroupIds": ["sg-1"], "Placement": {"AvailabilityZone": "eu-west-1a"},
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
        "CreditSpecification": {"CpuCredits": "standard"},
        "UserData": "#cloud-config\nssh_authorized_keys:\n  - \"" + KEY + "\"\n",
        "TagSpecifications": [{"ResourceType": kind, "Tags": [
            {"Key": "Name", "Value": "timewarp-production"}, {"Key": "project", "Value": "timewarp"},
            {"Key": "environment", "Value": "production"}, {"Key": "role", "Value": "app"},
            {"Key": "onehost:image-id", "Value": "ami-2"}, {"Key": "onehost:image-version", "Value": "2026.12.1"},
            {"Key": "onehost:previous-image", "Value": "ami-1"}]} for kind in ("instance", "volume")],
    }
    assert hosts.run_request(ENV, "ami-2", "t3.micro", "admin-key", tags)["KeyName"] == "admin-key"
    # A stack with its own subnet (any VPC): the instance goes there.
    in_subnet = hosts.Environment(**{**ENV.__dict__, "subnet_id": "subnet-0abc"})
    assert hosts.run_request(in_subnet, "ami-2", "t3.micro", None, tags)["SubnetId"] == "subnet-0abc"
    assert hosts.run_request(ENV, "ami-2", "t3.micro", None, tags, cpu_credits="unlimited")[
        "CreditSpecification"] == {"CpuCredits": "unlimited"}


def test_user_data_is_cloud_config_that_gives_admin_the_keys():
    import yaml
    text = hosts.user_data([KEY, "ssh-rsa AAAAB3Nza second"])
    assert text.startswith("#cloud-config\n")  # cloud-init reads a part by its first line
    assert yaml.safe_load(text) == {"ssh_authorized_keys": [KEY, "ssh-rsa AAAAB3Nza second"]}
    # A key pair alone: no empty (null) key list, which cloud-init's cc_ssh cannot extend by.
    assert yaml.safe_load(hosts.user_data([])) is None and hosts.user_data([]) == "#cloud-config\n"


@pytest.mark.parametrize("text", ["", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", KEY + "\n" + KEY, "ssh-ed25519"])
def test_anything_but_one_public_key_is_refused(text):
    with pytest.raises(CommandFailed, match="key.pub is not one OpenSSH public key"):
        hosts.public_key_line(text, "key.pub")


def test_login_keys_come_from_the_public_key_or_beside_the_private_one(tmp_path):
    (tmp_path / "id.pub").write_text("# mine\n" + KEY + "\n")
    assert login_keys(str(tmp_path / "id.pub"), None, None) == (KEY,)
    assert login_keys(None, str(tmp_path / "id"), None) == (KEY,)
    assert login_keys(None, None, "ec2-pair") == ()
    with pytest.raises(CommandFailed, match="the new host would have no login"):
        login_keys(None, str(tmp_path / "other"), None)
    with pytest.raises(CommandFailed, match="no such file"):
        login_keys(str(tmp_path / "missing.pub"), None, None)


@pytest.mark.parametrize("script", [hosts.take_data_script("vol-0abc"), hosts.release_data_script()])
def test_host_scripts_pass_shellcheck(script, tmp_path):
    path = tmp_path / "script.sh"
    path.write_text("#!/bin/sh\n" + script + "\n")
    result = subprocess.run([installed_tool("shellcheck"), "--shell=sh", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_data_volume_is_found_by_its_id():
    script = hosts.take_data_script("vol-0abc")
    assert "dev=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc;" in script
    assert script.startswith("mountpoint -q /data || { dev=/dev/disk/by-id/")
    assert '|| { echo "data volume vol-0abc is not attached" >&2; exit 1; };' in script
    # fstab's nofail lets a failed mount succeed: the stacks start only on a mounted volume.
    assert script.endswith("mount /data; mountpoint -q /data; } && systemctl restart onehost-stacks.service")


def stub(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize("blkid_exit, formatted, succeeds", [
    (2, True, True),     # blkid(8): nothing identified, a blank volume
    (0, False, True),    # a file system is there: never formatted again
    (4, False, False),   # an I/O or usage error is no proof of blankness
    (8, False, False),   # ambivalent probe
])
def test_only_a_volume_blkid_finds_nothing_on_is_formatted(tmp_path, blkid_exit, formatted, succeeds):
    """The mount script run by sh with the block tools stubbed: which blkid answers lead to mkfs."""
    bin_dir, devices, log = tmp_path / "bin", tmp_path / "by-id", tmp_path / "log"
    bin_dir.mkdir(), devices.mkdir()
    (devices / "nvme-Amazon_Elastic_Block_Store_vol0abc").touch()
    stub(bin_dir, "mountpoint", f'[ -e {tmp_path}/mounted ]')
    stub(bin_dir, "blkid", f"exit {blkid_exit}")
    stub(bin_dir, "mkfs", f'echo "mkfs $*" >> {log}')
    stub(bin_dir, "udevadm", "true")
    stub(bin_dir, "mount", f'touch {tmp_path}/mounted')
    script = hosts.mount_data_script("vol-0abc", wait_seconds=1, by_id_dir=str(devices))
    result = subprocess.run(["sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                            capture_output=True, text=True)
    assert (result.returncode == 0) == succeeds, result.stderr
    made = log.read_text() if log.exists() else ""
    assert made == (f"mkfs -t ext4 -q -L onehost-data {devices}/nvme-Amazon_Elastic_Block_Store_vol0abc\n"
                    if formatted else "")
    if not succeeds:
        assert f"(blkid exit {blkid_exit}): not formatting it" in result.stderr


def test_only_stopped_instances_past_their_time_retire():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def item(state, until=None):
        tags = [{"Key": hosts.RETIRE_TAG, "Value": until}] if until else []
        return {"InstanceId": f"i-{state}-{until}", "State": {"Name": state}, "Tags": tags}

    due = item("stopped", "2026-12-01T12:00:00+00:00")
    instances = [due, item("stopped", "2026-12-01T12:00:01+00:00"), item("running", "2026-11-01T00:00:00+00:00"),
                 item("stopped")]
    assert hosts.due_for_retirement(instances, now) == [due]
    assert hosts.retire_after(now, 24) == "2026-12-02T12:00:00+00:00"


def test_a_stack_without_the_outputs_is_named():
    with pytest.raises(CommandFailed, match="stack tw-prod has no output DataVolumeId, ElasticIp: run `onehost "
                                            "stack deploy` first"):
        hosts.environment_from("tw", "prod", {"SecurityGroupId": "sg", "InstanceProfileArn": "a",
                                              "ElasticIpAllocationId": "e", "AvailabilityZone": "z"})
