"""onehost/commands/data_volume.py: the scripts a swap runs on the old and the new host."""

import subprocess

import pytest

from onehost.commands import data_volume
from tests.tools import installed_tool


@pytest.mark.parametrize("script", [data_volume.take_data_script("vol-0abc"), data_volume.release_data_script()])
def test_host_scripts_pass_shellcheck(script, tmp_path):
    path = tmp_path / "script.sh"
    path.write_text("#!/bin/sh\n" + script + "\n")
    result = subprocess.run([installed_tool("shellcheck"), "--shell=sh", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_data_volume_is_found_by_its_id():
    script = data_volume.take_data_script("vol-0abc")
    assert "dev=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc;" in script
    assert script.startswith("mountpoint -q /data || { dev=/dev/disk/by-id/")
    assert '|| { echo "data volume vol-0abc is not attached" >&2; exit 1; };' in script
    # fstab's nofail lets a failed mount succeed: the stacks start only on a mounted volume.
    assert script.endswith("mount /data; mountpoint -q /data; } && systemctl restart onehost-stacks.service")


def test_the_old_host_stops_every_container_then_lets_go_of_the_volume():
    assert data_volume.release_data_script() == (
        "docker ps --quiet | xargs --no-run-if-empty docker stop --time 30 && "
        "sync && (! mountpoint -q /data || umount /data)")


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
    script = data_volume.mount_data_script("vol-0abc", wait_seconds=1, by_id_dir=str(devices))
    result = subprocess.run(["sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                            capture_output=True, text=True)
    assert (result.returncode == 0) == succeeds, result.stderr
    made = log.read_text() if log.exists() else ""
    assert made == (f"mkfs -t ext4 -q -L onehost-data {devices}/nvme-Amazon_Elastic_Block_Store_vol0abc\n"
                    if formatted else "")
    if not succeeds:
        assert f"(blkid exit {blkid_exit}): not formatting it" in result.stderr
