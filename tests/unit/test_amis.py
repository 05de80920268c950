"""Choosing which AMIs to keep: newest N by creation date, plus every AMI in use."""

from datetime import UTC, datetime

import pytest

from onehost.aws import amis
from onehost.aws import clients as aws
from onehost.cli import amis as amis_command
from onehost.cli import build_parser
from onehost.local.shell import CommandFailed


def image(image_id: str, day: int, **tags) -> amis.Image:
    return amis.Image(image_id=image_id, name=f"onehost-debian-13-202611{day:02d}",
                      created=datetime(2026, 11, day, tzinfo=UTC),
                      tags={"onehost:role": "host", **tags}, snapshot_ids=(f"snap-{image_id}",))


IMAGES = [image("ami-3", 3), image("ami-1", 1), image("ami-5", 5), image("ami-2", 2), image("ami-4", 4)]


def test_description_becomes_an_image():
    description = {
        "ImageId": "ami-0abc", "Name": "onehost-debian-13-20261125-120000",
        "CreationDate": "2026-11-25T12:00:05.000Z",
        "Tags": [{"Key": "onehost:role", "Value": "host"}, {"Key": "onehost:version", "Value": "v7"}],
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-root", "VolumeSize": 8}},
            {"DeviceName": "/dev/xvdb", "VirtualName": "ephemeral0"},
        ],
    }
    assert amis.image_from_description(description) == amis.Image(
        image_id="ami-0abc", name="onehost-debian-13-20261125-120000",
        created=datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC),
        tags={"onehost:role": "host", "onehost:version": "v7"}, snapshot_ids=("snap-root",))


def test_prune_keeps_the_newest_n():
    plan = amis.prune_plan(IMAGES, in_use=set(), keep=3)
    assert [kept.image_id for kept, _ in plan.keep] == ["ami-5", "ami-4", "ami-3"]
    assert [deleted.image_id for deleted in plan.delete] == ["ami-2", "ami-1"]


def test_prune_never_deletes_an_image_in_use():
    plan = amis.prune_plan(IMAGES, in_use={"ami-1", "ami-5"}, keep=2)
    assert [(kept.image_id, reason) for kept, reason in plan.keep] == [
        ("ami-5", "newest 2, in use"), ("ami-4", "newest 2"), ("ami-1", "in use")]
    assert [deleted.image_id for deleted in plan.delete] == ["ami-3", "ami-2"]


def test_prune_with_fewer_images_than_kept_deletes_nothing():
    assert amis.prune_plan(IMAGES[:2], in_use=set(), keep=3).delete == []


def test_prune_keeps_at_least_one():
    with pytest.raises(ValueError):
        amis.prune_plan(IMAGES, in_use=set(), keep=0)


def test_same_creation_time_is_ordered_by_id():
    twins = [image("ami-a", 7), image("ami-b", 7)]
    assert [kept.image_id for kept, _ in amis.prune_plan(twins, set(), keep=1).keep] == ["ami-b"]


def test_rows_show_tags_newest_first_and_mark_the_image_in_use():
    tagged = image("ami-9", 9, **{"onehost:version": "v3", "onehost:git-commit": "0123abc",
                                  "onehost:build-date": "2026-11-09T10:00:00Z",
                                  "onehost:base-ami": "ami-debian"})
    rows = amis.image_rows([image("ami-1", 1), tagged], in_use={"ami-9"})
    assert rows == [
        ["ami-9", "onehost-debian-13-20261109", "v3", "0123abc", "2026-11-09T10:00:00Z",
         "ami-debian", "2026-11-09 00:00", "yes"],
        ["ami-1", "onehost-debian-13-20261101", "-", "-", "-", "-", "2026-11-01 00:00", ""],
    ]
    assert amis.table(amis.COLUMNS, rows).splitlines()[0].split() == [
        "AMI", "NAME", "VERSION", "GIT", "COMMIT", "BUILT", "BASE", "AMI", "CREATED", "IN", "USE"]


@pytest.mark.parametrize(("flag", "environ", "configured", "region"), [
    ("eu-north-1", {"AWS_REGION": "us-east-1"}, "eu-west-1", "eu-north-1"),
    (None, {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-west-2"}, None, "us-east-1"),
    (None, {"AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-1", "us-west-2"),
    (None, {}, "eu-west-1", "eu-west-1"),
])
def test_region_comes_from_the_flag_then_the_environment_then_the_config(flag, environ, configured, region):
    assert aws.resolve_region(flag, environ, configured) == region


def test_no_region_is_a_clear_error():
    with pytest.raises(CommandFailed, match="no AWS region: pass --region or set AWS_REGION"):
        aws.resolve_region(None, {}, None)


def test_cli_defaults_and_refuses_keep_zero(capsys):
    args = build_parser().parse_args(["amis", "prune"])
    assert (args.keep, args.dry, args.region, args.func) == (3, False, None, amis_command.run_prune)
    assert build_parser().parse_args(["amis", "list", "--region", "eu-west-1"]).func == amis_command.run_list
    with pytest.raises(SystemExit):
        build_parser().parse_args(["amis", "prune", "--keep", "0"])
    assert "keep at least 1 AMI" in capsys.readouterr().err


def test_prune_keeps_the_ami_a_rollback_would_launch_from():
    """The serving instance names its previous AMI; its kept instance may have been retired."""
    plan = amis.prune_plan(IMAGES, in_use={"ami-5"}, keep=1, rollback_targets={"ami-2"})
    assert [(kept.image_id, reason) for kept, reason in plan.keep] == [
        ("ami-5", "newest 1, in use"), ("ami-2", "rollback target")]
    assert [deleted.image_id for deleted in plan.delete] == ["ami-4", "ami-3", "ami-1"]
