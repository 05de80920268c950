import subprocess
from datetime import datetime, timezone

import pytest

from onehost import hosts
from onehost.shell import CommandFailed
from tests.tools import installed_tool

ENV = hosts.Environment(project="timewarp", name="production", security_group_id="sg-1",
                        instance_profile_arn="arn:aws:iam::1:instance-profile/p", data_volume_id="vol-0abc",
                        allocation_id="eipalloc-1", availability_zone="eu-west-1a", address="203.0.113.10")
IMAGE = {"ImageId": "ami-2", "Name": "onehost-20261201", "Tags": [{"Key": "onehost:version", "Value": "2026.12.1"}]}


def test_run_request_is_imdsv2_only_in_the_volume_zone_with_the_profile_and_tags():
    tags = hosts.instance_tags(ENV, IMAGE, previous_image="ami-1")
    request = hosts.run_request(ENV, "ami-2", "t3.micro", None, tags)
    assert request == {
        "ImageId": "ami-2", "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1,
        "IamInstanceProfile": {"Arn": "arn:aws:iam::1:instance-profile/p"},
        "SecurityGroupIds": ["sg-1"], "Placement": {"AvailabilityZone": "eu-west-1a"},
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
        "UserData": hosts.user_data("vol-0abc"),
        "TagSpecifications": [{"ResourceType": kind, "Tags": [
            {"Key": "Name", "Value": "timewarp-production"}, {"Key": "project", "Value": "timewarp"},
            {"Key": "environment", "Value": "production"}, {"Key": "role", "Value": "app"},
            {"Key": "onehost:image-id", "Value": "ami-2"}, {"Key": "onehost:image-version", "Value": "2026.12.1"},
            {"Key": "onehost:previous-image", "Value": "ami-1"}]} for kind in ("instance", "volume")],
    }
    assert hosts.run_request(ENV, "ami-2", "t3.micro", "admin-key", tags)["KeyName"] == "admin-key"


@pytest.mark.parametrize("script", [hosts.user_data("vol-0abc"), "#!/bin/sh\n" + hosts.release_data_script() + "\n"])
def test_host_scripts_pass_shellcheck(script, tmp_path):
    path = tmp_path / "script.sh"
    path.write_text(script)
    result = subprocess.run([installed_tool("shellcheck"), "--shell=sh", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_data_volume_is_found_by_its_id_and_formatted_only_when_blank():
    script = hosts.take_data_script("vol-0abc")
    assert "dev=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc;" in script
    assert '[ -n "$(blkid -p -o value -s TYPE "$dev")" ] || mkfs -t ext4 -q -L onehost-data "$dev"' in script
    assert script.startswith("mountpoint -q /data || { dev=/dev/disk/by-id/")
    assert '|| { echo "data volume vol-0abc is not attached" >&2; exit 1; };' in script
    # fstab's nofail lets a failed mount succeed: the stacks start only on a mounted volume.
    assert script.endswith("mount /data; mountpoint -q /data; } && systemctl restart onehost-stacks.service")


def test_only_stopped_instances_past_their_time_retire():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)

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
