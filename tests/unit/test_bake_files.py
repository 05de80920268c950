"""What the bake ships besides Python: shell scripts shellcheck-clean, units that systemd reads."""

import runpy
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.tasks.boot_stacks import fstab_line
from deploy.tasks.cloudwatch import wants_package
from onehost.paths import REPO_ROOT
from tests.conftest import tier_of
from tests.tools import installed_tool

# Executables have no suffix; units and docs do.
SCRIPTS = sorted(path for path in [*(REPO_ROOT / "backup").iterdir(),
                                   *(REPO_ROOT / "deploy/rootfs/usr/local/sbin").iterdir()]
                 if path.suffix == "")
UNITS = sorted([*(REPO_ROOT / "backup").glob("*.service"), *(REPO_ROOT / "backup").glob("*.timer"),
                *(REPO_ROOT / "deploy/rootfs/etc/systemd/system").iterdir()])


def test_scripts_found():
    assert {path.name for path in SCRIPTS} >= {"onehost-stacks", "onehost-swapfile", "onehost-certbot-renew",
                                               "onehost-reload-edge"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shellcheck(script):
    result = subprocess.run([installed_tool("shellcheck"), script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout
    assert script.stat().st_mode & 0o111, f"{script} is not executable"


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_units_have_the_sections_systemd_needs(unit):
    text = unit.read_text()
    kind = {"service": "[Service]", "timer": "[Timer]", "swap": "[Swap]"}[unit.suffix.lstrip(".")]
    assert "[Unit]" in text and kind in text


def test_fstab_line_mounts_by_label_with_nofail():
    fields = fstab_line("onehost-data", "/data", "ext4").split()
    assert fields[:3] == ["LABEL=onehost-data", "/data", "ext4"]
    assert "nofail" in fields[3].split(",")


def test_cloudwatch_package_on_aws_targets_only():
    assert not wants_package({"bake_target": "local"})
    assert wants_package({"bake_target": "aws"})
    assert wants_package({"bake_target": "local", "cloudwatch_agent_package": True})


def test_cloud_init_config_names_the_bakes_admin_and_datasources_ds_identify_can_read():
    text = (REPO_ROOT / "deploy/rootfs/etc/cloud/cloud.cfg.d/99_onehost.cfg").read_text()
    config = yaml.safe_load(text)
    group_data = runpy.run_path(str(REPO_ROOT / "deploy/group_data/all.py"))
    assert config["system_info"]["default_user"]["name"] == group_data["admin_user"]
    # ds-identify, a shell script, reads datasource_list only as a one-line list (the note in
    # Debian's /etc/cloud/cloud.cfg); NoCloud first, so a local seed wins.
    assert "datasource_list: [NoCloud, Ec2]" in text.splitlines()
    assert config["datasource_list"] == ["NoCloud", "Ec2"]


def test_tier_is_the_nearest_tier_folder():
    assert tier_of(Path("/r/tests/host/image/test_docker.py")) == "host"
    assert tier_of(Path("/r/tests/unit/test_x.py")) == "unit"
    assert tier_of(Path("/r/tests/other/test_x.py")) is None
