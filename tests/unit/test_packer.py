"""The Packer template's inputs: what its callers pass is what it declares, and a base image it
does not know is refused before anything starts. (validate and fmt: test_lint.py.)"""

import re
import subprocess

import pytest

from onehost import bake
from onehost.paths import REPO_ROOT
from tests.tools import installed_tool

DECLARED = {name for path in (REPO_ROOT / "packer").glob("*.pkr.hcl")
            for name in re.findall(r'^variable "(\w+)"', path.read_text(), re.MULTILINE)}


def validate(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([installed_tool("packer"), "validate", *args, "packer/"], cwd=REPO_ROOT,
                          env=bake.packer_environment(tmp_path), capture_output=True, text=True,
                          timeout=60)


def passed_variables(command: list[str]) -> set[str]:
    return {command[i + 1].split("=", 1)[0] for i, arg in enumerate(command) if arg == "-var"}


def test_the_local_bake_passes_only_declared_variables():
    command = bake.packer_command("base:1", "onehost/instance", "tag", "pyinfra")
    assert passed_variables(command) <= DECLARED
    assert "-only=docker.local" in command


def test_the_bake_workflow_passes_only_declared_variables():
    workflow = (REPO_ROOT / ".github/workflows/bake.yml").read_text()
    passed = set(re.findall(r'-var "?(\w+)=', workflow))
    assert {"git_commit", "base_os", "region", "manifest_path"} <= passed <= DECLARED


def test_the_base_os_validates(tmp_path):
    result = validate(tmp_path, "-var", "base_os=debian-13", "-var", 'ssh_source_cidrs=["203.0.113.7/32"]')
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_unknown_base_os_is_refused(tmp_path):
    for other in ("centos-9", "ubuntu-24.04"):
        result = validate(tmp_path, "-var", f"base_os={other}")
        assert result.returncode != 0
        assert "The base_os value must be debian-13." in result.stdout + result.stderr
