"""On boot the data volume is mounted by label (nofail) and the stacks are brought up."""

from .conftest import GROUP_DATA


def test_data_volume_mounted_by_label_without_blocking_boot(image_host):
    source, options = image_host.check_output(
        "findmnt --fstab --noheadings --raw --output SOURCE,OPTIONS --mountpoint /data").split()
    assert source == f"LABEL={GROUP_DATA['data_volume_label']}"
    assert "nofail" in options.split(",")


def test_stacks_unit_runs_at_boot(image_host):
    unit = image_host.service("onehost-stacks.service")
    assert unit.is_enabled
    assert image_host.run("systemd-analyze verify onehost-stacks.service").rc == 0
    # A booted host with its data volume has run it (the AMI's builder has no volume and
    # booted before the bake installed it).
    if image_host.run("mountpoint --quiet /data").rc == 0:
        assert image_host.run("systemctl is-active onehost-stacks.service").stdout.strip() == "active"
