"""Private uploads: the exact commands, and what they do to modes when run by a shell here."""

import os
import stat
import subprocess

import pytest

from onehost.commands import private_files


def test_the_staging_directory_is_the_ssh_users_alone_under_run():
    assert private_files.make_staging_dir("/run/onehost-upload-0a1b") == [
        "sh", "-c", 'install -d -m 700 -o "${SUDO_USER:-$(id -un)}" "$1"', "make-staging-dir",
        "/run/onehost-upload-0a1b"]
    first, second = private_files.staging_dir(), private_files.staging_dir()
    assert first.startswith("/run/onehost-upload-") and first != second


def test_the_file_is_installed_beside_its_destination_then_renamed():
    assert private_files.install_private("/run/onehost-upload-0a1b", "/data/releases/r1/app.env") == [
        "sh", "-c", 'umask 077 && install -o root -g root -m "$3" "$1/file" "$2.onehost-new" '
                    '&& mv -f "$2.onehost-new" "$2"; status=$?; rm -rf -- "$1"; exit $status',
        "install-private", "/run/onehost-upload-0a1b", "/data/releases/r1/app.env", "600"]


def test_only_staging_directories_are_removed():
    assert private_files.remove_staging_dir("/run/onehost-upload-0a1b") == [
        "rm", "-rf", "--", "/run/onehost-upload-0a1b"]
    with pytest.raises(ValueError):
        private_files.remove_staging_dir("/root/.docker")


@pytest.mark.skipif(os.geteuid() != 0, reason="install -o root needs root")
def test_an_existing_world_readable_file_is_replaced_whole_at_0600(tmp_path):
    staging, dest = tmp_path / "staging", tmp_path / "app.env"
    staging.mkdir()
    (staging / "file").write_text("SECRET_KEY=new\n")
    dest.write_text("SECRET_KEY=old\n")
    dest.chmod(0o644)
    old_inode = dest.stat().st_ino
    subprocess.run(private_files.install_private(str(staging), str(dest)), check=True)
    assert dest.read_text() == "SECRET_KEY=new\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert dest.stat().st_ino != old_inode       # a new file, never the old one rewritten in place
    assert not staging.exists() and not (tmp_path / "app.env.onehost-new").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="install -o root needs root")
def test_a_failed_install_leaves_the_destination_and_removes_the_staging(tmp_path):
    staging, dest = tmp_path / "staging", tmp_path / "missing-dir" / "app.env"
    staging.mkdir()
    (staging / "file").write_text("SECRET_KEY=new\n")
    result = subprocess.run(private_files.install_private(str(staging), str(dest)), capture_output=True)
    assert result.returncode != 0 and not staging.exists()
