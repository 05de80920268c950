"""`onehost amis`: the project's host images (AMIs) and their pruning.

The AMIs are the ones this account owns with the tag onehost:role=host (Packer's amazon-ebs
source tags them). An AMI is in use while any instance that is not terminated (running or
stopped) was launched from it. An AMI is a rollback target while such an instance names it in
its onehost:previous-image tag (`onehost hosts rollback` launches from it when the kept instance
has been retired). `prune` keeps the newest N by creation date plus every AMI in use or a
rollback target, deregisters the others and deletes their snapshots.

Selection is pure (unit-tested); each AWS call is a small function over a boto3 EC2 client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from onehost.aws.clients import client, table, tag_dict

ROLE_TAG = ("onehost:role", "host")
PREVIOUS_IMAGE_TAG = "onehost:previous-image"  # set by `onehost hosts` on the instance it launches
# Instances in these states hold on to their AMI (a stopped one may be started again).
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
COLUMNS = ["AMI", "NAME", "VERSION", "GIT COMMIT", "BUILT", "BASE AMI", "CREATED", "IN USE"]


@dataclass(frozen=True)
class Image:
    image_id: str
    name: str
    created: datetime
    tags: dict
    snapshot_ids: tuple[str, ...]


@dataclass(frozen=True)
class PrunePlan:
    keep: list[tuple[Image, str]]  # with the reason it stays
    delete: list[Image]


# --- pure ------------------------------------------------------------------------

def image_from_description(description: dict) -> Image:
    """An Image from one entry of ec2.describe_images()["Images"]."""
    return Image(
        image_id=description["ImageId"],
        name=description.get("Name", ""),
        created=datetime.fromisoformat(description["CreationDate"].replace("Z", "+00:00")),
        tags={tag["Key"]: tag["Value"] for tag in description.get("Tags", [])},
        snapshot_ids=tuple(mapping["Ebs"]["SnapshotId"]
                           for mapping in description.get("BlockDeviceMappings", [])
                           if mapping.get("Ebs", {}).get("SnapshotId")),
    )


def newest_first(images: list[Image]) -> list[Image]:
    return sorted(images, key=lambda image: (image.created, image.image_id), reverse=True)


def prune_plan(images: list[Image], in_use: set[str], keep: int,
               rollback_targets: frozenset[str] | set[str] = frozenset()) -> PrunePlan:
    """Keep the newest `keep` images, every image in use and every rollback target; delete the
    rest (newest first)."""
    if keep < 1:
        raise ValueError("keep at least one image")
    kept, deleted = [], []
    for rank, image in enumerate(newest_first(images)):
        reasons = ([f"newest {keep}"] if rank < keep else []) + \
                  (["in use"] if image.image_id in in_use else []) + \
                  (["rollback target"] if image.image_id in rollback_targets else [])
        if reasons:
            kept.append((image, ", ".join(reasons)))
        else:
            deleted.append(image)
    return PrunePlan(keep=kept, delete=deleted)


def image_rows(images: list[Image], in_use: set[str]) -> list[list[str]]:
    return [[image.image_id, image.name, image.tags.get("onehost:version", "-"),
             image.tags.get("onehost:git-commit", "-"), image.tags.get("onehost:build-date", "-"),
             image.tags.get("onehost:base-ami", "-"), image.created.strftime("%Y-%m-%d %H:%M"),
             "yes" if image.image_id in in_use else ""]
            for image in newest_first(images)]


# --- AWS ---------------------------------------------------------------------------

def ec2_client(region_flag: str | None = None):
    return client("ec2", region_flag)


def project_images(ec2) -> list[Image]:
    found = ec2.describe_images(Owners=["self"], Filters=[
        {"Name": f"tag:{ROLE_TAG[0]}", "Values": [ROLE_TAG[1]]}])["Images"]
    return [image_from_description(description) for description in found]


def live_instances(ec2) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}])
    return [instance for page in pages for reservation in page["Reservations"]
            for instance in reservation["Instances"]]


def images_in_use(ec2) -> set[str]:
    return {instance["ImageId"] for instance in live_instances(ec2)}


def rollback_targets(ec2) -> set[str]:
    """The AMIs `onehost hosts rollback` would go back to from a live instance."""
    return {tag_dict(instance.get("Tags")).get(PREVIOUS_IMAGE_TAG) for instance in live_instances(ec2)} - {None}


def delete_image(ec2, image: Image) -> None:
    """Deregister first: a snapshot cannot be deleted while an AMI refers to it."""
    ec2.deregister_image(ImageId=image.image_id)
    for snapshot_id in image.snapshot_ids:
        ec2.delete_snapshot(SnapshotId=snapshot_id)


# --- commands ------------------------------------------------------------------------

def list_images(ec2) -> str:
    images = project_images(ec2)
    if not images:
        return "no AMIs tagged onehost:role=host in this account and region"
    return table(COLUMNS, image_rows(images, images_in_use(ec2)))


def prune(ec2, keep: int, dry: bool, say=print) -> PrunePlan:
    plan = prune_plan(project_images(ec2), images_in_use(ec2), keep, rollback_targets(ec2))
    for image, reason in plan.keep:
        say(f"keep    {image.image_id}  {image.name}  ({reason})")
    for image in plan.delete:
        snapshots = ", ".join(image.snapshot_ids) or "no snapshots"
        if dry:
            say(f"would delete {image.image_id}  {image.name}  and {snapshots}")
        else:
            delete_image(ec2, image)
            say(f"deleted {image.image_id}  {image.name}  and {snapshots}")
    if not plan.delete:
        say("nothing to prune")
    elif dry:
        say(f"--dry: nothing deleted ({len(plan.delete)} AMIs would be)")
    return plan
