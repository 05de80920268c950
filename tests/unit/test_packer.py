"""The Packer template's inputs: what its callers pass is what it declares, and a base image it
does not know, or a builder SSH port open to everyone, is refused before anything starts.
(validate and fmt: test_lint.py; an AMI build without ssh_source_cidrs: tests/aws/test_packer_ebs.py.)"""

import subprocess

import pytest
import yaml

from onehost.local import bake
from onehost.paths import REPO_ROOT
from tests.tools import installed_tool


def validate(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([installed_tool("packer"), "validate", *args, "packer/"], cwd=REPO_ROOT,
                          env=bake.packer_environment(tmp_path), capture_output=True, text=True,
                          timeout=60)


def passed_variables(command: list[str]) -> list[str]:
    """The NAME=VALUE of each -var in a Packer command line."""
    return [command[i + 1] for i, arg in enumerate(command) if arg == "-var"]


def as_arguments(variables: list[str]) -> list[str]:
    return [part for value in variables for part in ("-var", value)]


def test_the_local_bake_passes_only_declared_variables(tmp_path):
    """Packer refuses a -var the template does not declare ("Undefined -var variable":
    hashicorp/packer hcl2template/types.variables.go, collectInputVariableValues)."""
    command = bake.packer_command("base:1", "onehost/instance", "tag", "pyinfra")
    assert "-only=docker.local" in command
    result = validate(tmp_path, "-only=docker.local", *as_arguments(passed_variables(command)))
    assert result.returncode == 0, result.stdout + result.stderr
    undeclared = validate(tmp_path, "-only=docker.local", "-var", "not_in_the_template=1")
    assert undeclared.returncode != 0 and "Undefined -var variable" in undeclared.stdout + undeclared.stderr


def bake_step_arguments(tmp_path) -> list[str]:
    """The workflow's Bake step, run with stand-ins for curl (the runner's address 198.51.100.4)
    and packer (which writes its arguments down): the arguments it gives Packer."""
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
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return (tmp_path / "args").read_text().splitlines()


def test_the_bake_workflow_passes_only_declared_variables(tmp_path):
    passed = passed_variables(bake_step_arguments(tmp_path))
    assert {"git_commit", "base_os", "region", "manifest_path"} <= {value.split("=", 1)[0] for value in passed}
    checked = validate(tmp_path / "packer", "-only=amazon-ebs.aws", *as_arguments(passed))
    assert checked.returncode == 0, checked.stdout + checked.stderr


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
    """Packer gets the runner's address alone as ssh_source_cidrs (that Packer accepts every
    variable the step passes: test_the_bake_workflow_passes_only_declared_variables)."""
    passed = passed_variables(bake_step_arguments(tmp_path))
    assert [value for value in passed if value.startswith("ssh_source_cidrs=")] == [
        'ssh_source_cidrs=["198.51.100.4/32"]']


@pytest.mark.parametrize("cidrs", ['["0.0.0.0/0"]', '["203.0.113.7/32", "::/0"]', '["10.0.0.0/00"]'])
def test_the_builders_ssh_is_never_opened_to_everyone(tmp_path, cidrs):
    result = validate(tmp_path, "-var", f"ssh_source_cidrs={cidrs}")
    assert result.returncode != 0
    assert "must not open the builder's SSH to everyone" in result.stdout + result.stderr


@pytest.mark.parametrize("cidrs", ['["203.0.113.7/32"]', '["10.0.0.0/10", "2001:db8::/32"]'])
def test_narrower_ssh_sources_validate(tmp_path, cidrs):
    result = validate(tmp_path, "-var", f"ssh_source_cidrs={cidrs}")
    assert result.returncode == 0, result.stdout + result.stderr
