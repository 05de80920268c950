"""`onehost amis` against the moto server: the project's AMIs listed with their tags, and
pruning that keeps the newest N and any AMI an instance uses, and deletes the others' snapshots."""

import time
from dataclasses import dataclass

import pytest

from onehost.aws import amis
from onehost.cli import main
from onehost.local.instance import wait_until
from tests.aws.conftest import DEBIAN_13_LATEST


@dataclass
class Account:
    ec2: object
    images: list  # ours, oldest first
    snapshots: dict  # image id -> its snapshot ids
    foreign: str  # an AMI without the role tag
    in_use: str  # the oldest of ours, the source of a stopped instance


def tag_image(ec2, image_id: str, number: int) -> list[str]:
    tags = [{"Key": "Name", "Value": f"onehost-debian-13-{number}"},
            {"Key": "onehost:role", "Value": "host"},
            {"Key": "onehost:version", "Value": f"v{number}"},
            {"Key": "onehost:git-commit", "Value": f"c0ffee{number}"},
            {"Key": "onehost:build-date", "Value": f"2026-11-2{number}T10:00:00Z"},
            {"Key": "onehost:base-ami", "Value": DEBIAN_13_LATEST["ami_id"]}]
    snapshots = [mapping["Ebs"]["SnapshotId"] for mapping in
                 ec2.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"]]
    # Separately: moto answers 500 to a snapshot TagSpecification on create_image.
    ec2.create_tags(Resources=[image_id, *snapshots], Tags=tags)
    return snapshots


@pytest.fixture
def account(aws):
    """Four project AMIs a second apart (moto's creation dates have whole seconds) and one other."""
    ec2 = aws.client("ec2")
    builder = ec2.run_instances(ImageId=DEBIAN_13_LATEST["ami_id"], MinCount=1, MaxCount=1,
                                InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    images, snapshots = [], {}
    for number in range(1, 5):
        if images:      # the next whole second, for a creation date of its own
            second = int(time.time())
            wait_until(lambda second=second: int(time.time()) > second, "the next second", timeout=3, interval=0.05)
        image_id = ec2.create_image(InstanceId=builder, Name=f"onehost-debian-13-{number}")["ImageId"]
        snapshots[image_id] = tag_image(ec2, image_id, number)
        images.append(image_id)
    foreign = ec2.create_image(InstanceId=builder, Name="someone-elses-image")["ImageId"]
    ec2.terminate_instances(InstanceIds=[builder])
    host = ec2.run_instances(ImageId=images[0], MinCount=1, MaxCount=1,
                             InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[host])
    return Account(ec2=ec2, images=images, snapshots=snapshots, foreign=foreign, in_use=images[0])


def image_ids(ec2) -> set[str]:
    return {image["ImageId"] for image in ec2.describe_images(Owners=["self"])["Images"]}


def snapshot_ids(ec2) -> set[str]:
    return {snapshot["SnapshotId"] for snapshot in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def test_list_shows_the_project_images_newest_first_and_the_one_in_use(account, capsys):
    assert main(["amis", "list", "--region", "eu-west-1"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["AMI", "NAME"]
    assert [row.split()[0] for row in rows] == account.images[::-1]
    oldest = rows[-1].split()
    assert oldest[1:6] == ["onehost-debian-13-1", "v1", "c0ffee1", "2026-11-21T10:00:00Z",
                           DEBIAN_13_LATEST["ami_id"]]
    assert oldest[-1] == "yes"
    assert not any(row.endswith("yes") for row in rows[:-1])


def test_prune_keeps_the_newest_and_the_one_in_use_and_deletes_the_rest_with_snapshots(account, capsys):
    images_before, snapshots_before = image_ids(account.ec2), snapshot_ids(account.ec2)
    assert main(["amis", "prune", "--keep", "2", "--region", "eu-west-1"]) == 0
    pruned = account.images[1]  # neither among the newest two nor in use
    assert image_ids(account.ec2) == images_before - {pruned}
    assert snapshot_ids(account.ec2) == snapshots_before - set(account.snapshots[pruned])
    assert account.foreign in image_ids(account.ec2)
    out = capsys.readouterr().out
    assert f"deleted {pruned}" in out
    assert f"keep    {account.in_use}  onehost-debian-13-1  (in use)" in out


def test_prune_again_changes_nothing(account, capsys):
    amis.prune(account.ec2, keep=2, dry=False)
    images, snapshots = image_ids(account.ec2), snapshot_ids(account.ec2)
    plan = amis.prune(account.ec2, keep=2, dry=False)
    assert plan.delete == []
    assert (image_ids(account.ec2), snapshot_ids(account.ec2)) == (images, snapshots)
    assert capsys.readouterr().out.rstrip().endswith("nothing to prune")


def test_dry_prune_deletes_nothing_and_says_what_it_would(account, capsys):
    images, snapshots = image_ids(account.ec2), snapshot_ids(account.ec2)
    assert main(["amis", "prune", "--keep", "1", "--dry", "--region", "eu-west-1"]) == 0
    assert (image_ids(account.ec2), snapshot_ids(account.ec2)) == (images, snapshots)
    out = capsys.readouterr().out
    for image_id in account.images[1:3]:
        assert f"would delete {image_id}" in out
        assert all(snapshot in out for snapshot in account.snapshots[image_id])
    assert f"would delete {account.in_use}" not in out
    assert "--dry: nothing deleted (2 AMIs would be)" in out


def test_aws_errors_are_one_line(aws, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["amis", "list", "--region", "eu-west-1"]) == 1
    assert capsys.readouterr().err.startswith("error: AWS call failed: Could not connect")


def test_prune_keeps_the_rollback_target_of_a_serving_instance(account, capsys):
    """`onehost hosts rollback` launches from the AMI in onehost:previous-image once the kept
    instance is retired: that AMI must outlive the prune."""
    target = account.images[1]
    serving = account.ec2.run_instances(ImageId=account.images[3], MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                        TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                            {"Key": "onehost:previous-image", "Value": target}]}])
    assert serving["Instances"]
    assert main(["amis", "prune", "--keep", "1", "--region", "eu-west-1"]) == 0
    assert target in image_ids(account.ec2)
    assert f"keep    {target}  onehost-debian-13-2  (rollback target)" in capsys.readouterr().out
