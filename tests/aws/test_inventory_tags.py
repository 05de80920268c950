"""deploy/inventory.py finds EC2 hosts by their tags (moto): the right environment, no match, the wrong
region, no credentials."""

import pytest
from pyinfra.api.exceptions import InventoryError

from onehost.remote import inventory

TAGS = {"project": "timewarp", "environment": "production", "role": "app"}
# What `onehost hosts launch` records from the instance's console (onehost.commands.reach).
HOST_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIExampleHostKey"


def launch(ec2, tags: dict, count: int = 1) -> list[str]:
    image = ec2.describe_images(Owners=["136693071363"])["Images"][0]["ImageId"]
    tags = {**tags, "onehost:ssh-host-key:ssh-ed25519": HOST_KEY}
    specification = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    reply = ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro",
                              TagSpecifications=specification)
    return sorted(item["InstanceId"] for item in reply["Instances"])


def test_hosts_of_one_environment_and_no_other(aws):
    ec2 = aws.client("ec2")
    production = launch(ec2, TAGS, count=2)
    launch(ec2, {**TAGS, "environment": "staging"})
    stopped = launch(ec2, TAGS)
    ec2.stop_instances(InstanceIds=stopped)
    hosts = inventory.tagged_hosts(ec2, TAGS, "eu-west-1", {"ONEHOST_SSH_KEY": "/keys/admin"})
    assert [name for name, _ in hosts] == production
    name, data = hosts[0]
    assert data["ssh_user"] == "admin" and data["_sudo"] and data["ssh_key"] == "/keys/admin"
    assert data["instance_id"] == name == data["ssh_hostname"] and data["aws_region"] == "eu-west-1"
    # The backup heartbeat's Host, as the stack's alarm watches it.
    assert data["metrics_host"] == "timewarp-production"


def test_no_match_names_the_tags_and_the_region(aws):
    ec2 = aws.client("ec2")
    launch(ec2, {**TAGS, "environment": "staging"})
    with pytest.raises(InventoryError, match="no running EC2 instance in eu-west-1 has the tags "
                                             "project=timewarp, environment=production, role=app"):
        inventory.tagged_hosts(ec2, TAGS, "eu-west-1", {})


def test_the_wrong_region_finds_nothing_and_says_where_it_looked(aws):
    launch(aws.client("ec2"), TAGS)
    with pytest.raises(InventoryError, match="in us-east-1 has the tags"):
        inventory.tagged_hosts(aws.client("ec2", region_name="us-east-1"), TAGS, "us-east-1", {})


def test_no_credentials_is_a_clear_error(moto_endpoint, monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    environ = {"ONEHOST_TAGS": "project=timewarp", "AWS_REGION": "eu-west-1"}
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    with pytest.raises(InventoryError, match="no AWS credentials to find the hosts"):
        inventory.hosts_from_environment(environ)


def test_a_direct_reach_pins_the_key_under_the_instance_id_and_its_address(aws):
    """pyinfra's SSH client looks a key up by the address it connects to (no HostKeyAlias)."""
    ec2 = aws.client("ec2")
    [name] = launch(ec2, TAGS)
    [(_, data)] = inventory.tagged_hosts(ec2, TAGS, "eu-west-1", {"ONEHOST_REACH": "private"})
    address = ec2.describe_instances(InstanceIds=[name])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    with open(data["ssh_known_hosts_file"]) as known:
        assert known.read() == f"{name},{address} ssh-ed25519 {HOST_KEY}\n"
    with open(data["ssh_config_file"]) as config:
        text = config.read()
    assert f"HostName {address}\n  HostKeyAlias {name}\n" in text and "ProxyCommand" not in text


@pytest.mark.parametrize("environ, message", [
    ({"ONEHOST_REACH": "vpn"}, "ONEHOST_REACH='vpn': choose one of tunnel, public, private"),
    ({"ONEHOST_ADDRESS": "private"}, "ONEHOST_ADDRESS is now ONEHOST_REACH"),
])
def test_a_bad_reach_is_named(aws, environ, message):
    launch(aws.client("ec2"), TAGS)
    with pytest.raises(InventoryError, match=message):
        inventory.tagged_hosts(aws.client("ec2"), TAGS, "eu-west-1", environ)
