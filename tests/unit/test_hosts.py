from datetime import UTC, datetime

import pytest

from onehost.aws import hosts
from onehost.cli.hosts import login_keys
from onehost.local.shell import CommandFailed

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


def test_a_login_key_file_that_is_not_one_public_key_is_refused_by_the_console(tmp_path):
    (tmp_path / "id.pub").write_text(KEY + "\n" + KEY + "\n")
    with pytest.raises(CommandFailed, match=f"{tmp_path}/id.pub is not one OpenSSH public key"):
        login_keys(str(tmp_path / "id.pub"), None, None)


def test_login_keys_come_from_the_public_key_or_beside_the_private_one(tmp_path):
    (tmp_path / "id.pub").write_text("# mine\n" + KEY + "\n")
    assert login_keys(str(tmp_path / "id.pub"), None, None) == (KEY,)
    assert login_keys(None, str(tmp_path / "id"), None) == (KEY,)
    assert login_keys(None, None, "ec2-pair") == ()
    with pytest.raises(CommandFailed, match="the new host would have no login"):
        login_keys(None, str(tmp_path / "other"), None)
    with pytest.raises(CommandFailed, match="no such file"):
        login_keys(str(tmp_path / "missing.pub"), None, None)


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
