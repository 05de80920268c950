"""What the bake ships besides Python: shell scripts shellcheck-clean, units that systemd reads."""

import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.tasks.boot_stacks import fstab_line
from onehost.paths import REPO_ROOT
from tests.conftest import tier_of
from tests.tools import installed_tool

# Executables have no suffix; units and docs do.
SCRIPTS = sorted(path for path in (REPO_ROOT / "deploy/rootfs/usr/local/sbin").iterdir() if path.suffix == "")
UNITS = sorted((REPO_ROOT / "deploy/rootfs/etc/systemd/system").iterdir())


def test_scripts_found():
    assert {path.name for path in SCRIPTS} >= {"onehost-stacks", "onehost-swapfile", "onehost-certbot-renew",
                                               "onehost-reload-edge"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shellcheck(script):
    result = subprocess.run([installed_tool("shellcheck"), script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout
    assert script.stat().st_mode & 0o111, f"{script} is not executable"


# What the image's packages bring that our units name: stand-ins, so systemd-analyze can load them.
PACKAGE_UNITS = {"docker.service": "[Unit]\nDescription=docker.io's unit\n[Service]\nExecStart=/usr/bin/dockerd\n"}
PACKAGE_EXECUTABLES = ("/usr/bin/ssh-keygen", "/usr/sbin/sysctl")   # openssh-client, procps


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.fail("systemd-analyze is not installed: apt-get install systemd")
    return found


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    """A root holding the units and tools as the bake installs them (deploy/rootfs mirrors `/`;
    onehost-backup.py goes in without its suffix), systemd's own targets, and stand-ins for what
    packages add."""
    root = tmp_path_factory.mktemp("root")
    units, sbin = root / "etc/systemd/system", root / "usr/local/sbin"
    units.mkdir(parents=True)
    sbin.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, units / unit.name)
    for tool in (REPO_ROOT / "deploy/rootfs/usr/local/sbin").iterdir():
        if tool.name != "README.md":
            shutil.copy(tool, sbin / tool.name.removesuffix(".py"))
            (sbin / tool.name.removesuffix(".py")).chmod(0o755)
    system = root / "usr/lib/systemd/system"
    system.mkdir(parents=True)
    installed = next(path for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                     if path.is_dir())
    for target in installed.glob("*.target"):
        shutil.copy(target, system / target.name)
    for name, text in PACKAGE_UNITS.items():
        (system / name).write_text(text)
    for executable in PACKAGE_EXECUTABLES:
        (root / executable.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / executable.lstrip("/")).write_text("#!/bin/sh\n")
        (root / executable.lstrip("/")).chmod(0o755)
    return root


def verify(root: Path, unit_name: str) -> subprocess.CompletedProcess:
    """`systemd-analyze verify`: systemd's own parser loads the unit and what it depends on, and
    checks that the commands it runs exist (man systemd-analyze, "verify FILE...")."""
    return subprocess.run([systemd_analyze(), "verify", f"--root={root}", str(root / "etc/systemd/system" / unit_name)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_systemd_loads_each_unit_without_a_complaint(image_root, unit):
    result = verify(image_root, unit.name)
    # Unknown keys are only warnings (exit 0): any output at all fails.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("change, complaint", [
    (("ExecStart=", "ExecStrat="), "'ExecStrat'"),
    (("ExecStart=/usr/local/sbin/onehost-stacks", "ExecStart=/usr/local/sbin/onehost-stack"),
     "/usr/local/sbin/onehost-stack is not executable"),
], ids=["misspelt-key", "missing-command"])
def test_the_unit_check_catches_a_broken_unit(image_root, change, complaint):
    unit = image_root / "etc/systemd/system/onehost-stacks.service"
    original = unit.read_text()
    try:
        unit.write_text(original.replace(*change))
        result = verify(image_root, unit.name)
    finally:
        unit.write_text(original)
    assert complaint in result.stdout + result.stderr


def test_fstab_line_mounts_by_label_with_nofail():
    fields = fstab_line("onehost-data", "/data", "ext4").split()
    assert fields[:3] == ["LABEL=onehost-data", "/data", "ext4"]
    assert "nofail" in fields[3].split(",")


def test_cloud_init_config_names_the_bakes_admin_and_datasources_ds_identify_can_read():
    text = (REPO_ROOT / "deploy/rootfs/etc/cloud/cloud.cfg.d/99_onehost.cfg").read_text()
    config = yaml.safe_load(text)
    group_data = runpy.run_path(str(REPO_ROOT / "deploy/group_data/all.py"))
    assert config["system_info"]["default_user"]["name"] == group_data["admin_user"]
    # ds-identify, a shell script, reads datasource_list only as a one-line list (the note in
    # Debian's /etc/cloud/cloud.cfg; canonical/cloud-init tools/ds-identify, check_config reads
    # one line per key); NoCloud first, so a local seed wins. A content check (ds-identify is not
    # on this machine); the NoCloud boot itself: tests/host/test_cloud_init.py::
    # test_cloud_init_booted_it_from_its_seed_and_knows_no_other_instance.
    assert "datasource_list: [NoCloud, Ec2]" in text.splitlines()
    assert config["datasource_list"] == ["NoCloud", "Ec2"]


def test_tier_is_the_nearest_tier_folder():
    assert tier_of(Path("/r/tests/host/nested/test_x.py")) == "host"
    assert tier_of(Path("/r/packer/image_suite/test_docker.py")) == "host"
    assert tier_of(Path("/r/tests/unit/test_x.py")) == "unit"
    assert tier_of(Path("/r/tests/other/test_x.py")) is None
