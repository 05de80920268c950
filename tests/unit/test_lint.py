"""Shell scripts pass shellcheck; the Packer template validates offline and is formatted."""

import subprocess

import pytest

from onehost.local.bake import packer_environment
from onehost.paths import REPO_ROOT
from tests.tools import installed_tool

SHELL_SCRIPTS = ["scripts/bootstrap.sh", ".ci/run", "images/postgres/docker-entrypoint.sh"]


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shellcheck(script):
    result = subprocess.run([installed_tool("shellcheck"), "--shell=bash", script],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("packer_args", [["validate"], ["fmt", "-check", "-diff"]])
def test_packer_template(packer_args, tmp_path):
    result = subprocess.run([installed_tool("packer"), *packer_args, "packer/"], cwd=REPO_ROOT,
                            env=packer_environment(tmp_path), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
