"""The Packer template's inputs: what its callers pass is what it declares, and a base image it
does not know, or a builder SSH port open to everyone, is refused before anything starts.
(validate and fmt: test_lint.py; an AMI build without ssh_source_cidrs: tests/aws/test_packer_ebs.py.)"""

import re
import subprocess

import pytest
import yaml

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


def test_the_local_bake_needs_no_ssh_sources(tmp_path):
    """The docker source validates with the defaults alone, as `onehost bake` runs it."""
    result = validate(tmp_path, "-only=docker.local")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_bake_workflow_opens_ssh_to_the_runner_only(tmp_path):
    """The workflow's Bake step, run with stand-ins for curl (the runner's address) and packer:
    Packer gets that address alone as ssh_source_cidrs, and the real Packer accepts every
    variable the step passes."""
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/bake.yml").read_text())
    [step] = [step for step in workflow["jobs"]["bake"]["steps"] if step.get("name") == "Bake"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"curl": "echo 198.51.100.4", "packer": f'printf "%s\\n" "$@" > {tmp_path}/args'}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GITHUB_SHA": "0123abc" * 5 + "01234",
           "BASE_OS": "debian-13", "SUBNET_ID": "", "AWS_REGION": "eu-west-1"}
    # GitHub runs a bash step as `bash --noprofile --norc -eo pipefail {0}`.
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "args").read_text().splitlines()
    passed = [args[i + 1] for i, arg in enumerate(args) if arg == "-var"]
    assert 'ssh_source_cidrs=["198.51.100.4/32"]' in passed
    checked = validate(tmp_path / "packer", "-only=amazon-ebs.aws", *[part for value in passed for part in ("-var", value)])
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("cidrs", ['["0.0.0.0/0"]', '["203.0.113.7/32", "::/0"]', '["10.0.0.0/00"]'])
def test_the_builders_ssh_is_never_opened_to_everyone(tmp_path, cidrs):
    result = validate(tmp_path, "-var", f"ssh_source_cidrs={cidrs}")
    assert result.returncode != 0
    assert "must not open the builder's SSH to everyone" in result.stdout + result.stderr


@pytest.mark.parametrize("cidrs", ['["203.0.113.7/32"]', '["10.0.0.0/10", "2001:db8::/32"]'])
def test_narrower_ssh_sources_validate(tmp_path, cidrs):
    result = validate(tmp_path, "-var", f"ssh_source_cidrs={cidrs}")
    assert result.returncode == 0, result.stdout + result.stderr
