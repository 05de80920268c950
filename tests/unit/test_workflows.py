"""The GitHub workflows and composite actions pass their JSON schemas and zizmor (both offline),
and every action they use from another repository is pinned to a commit."""

import re
import subprocess

import pytest
import yaml

from onehost.paths import REPO_ROOT
from tests.tools import installed_tool

WORKFLOWS = sorted(path.relative_to(REPO_ROOT).as_posix()
                   for path in (REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONS = sorted(path.relative_to(REPO_ROOT).as_posix()
                 for path in (REPO_ROOT / ".github" / "actions").glob("*/action.y*ml"))
SCHEMAS = {**{path: "vendor.github-workflows" for path in WORKFLOWS},
           **{path: "vendor.github-actions" for path in ACTIONS}}
# owner/repo[/path]@<full commit SHA>; docker:// images by digest.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[^@]+)?@[0-9a-f]{40}$|^docker://[^@]+@sha256:[0-9a-f]{64}$")
# In this repository: the workspace ("./") or the workflow's own commit ("$/").
SAME_REPOSITORY = ("./", "$/")


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_workflows_are_found():
    assert {".github/workflows/ci.yml", ".github/workflows/deploy.yml",
            ".github/workflows/rollback.yml"} <= set(WORKFLOWS)


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_schema(path):
    result = run([installed_tool("check-jsonschema"), "--builtin-schema", SCHEMAS[path], path])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_zizmor(path):
    result = run([installed_tool("zizmor"), "--offline", "--no-progress", "--color=never", path])
    assert result.returncode == 0, result.stdout + result.stderr


def uses_of(document: dict) -> list[str]:
    """Every `uses:` of a workflow (steps and reusable-workflow jobs) or a composite action."""
    jobs = (document.get("jobs") or {}).values()
    steps = [step for job in jobs for step in job.get("steps") or []]
    steps += (document.get("runs") or {}).get("steps") or []
    return ([job["uses"] for job in jobs if "uses" in job]
            + [step["uses"] for step in steps if "uses" in step])


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_actions_from_other_repositories_are_pinned_to_a_commit(path):
    uses = uses_of(yaml.safe_load((REPO_ROOT / path).read_text()))
    unpinned = [ref for ref in uses
                if not ref.startswith(SAME_REPOSITORY) and not PINNED.match(ref)]
    assert not unpinned, f"pin these by full commit SHA (with a `# vX.Y.Z` comment): {unpinned}"


@pytest.mark.parametrize(("ref", "pinned"), [
    ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", True),
    ("github/codeql-action/init@" + "a" * 40, True),
    ("actions/checkout@v4", False),
    ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af68", False),
    ("docker://alpine:3.20", False),
])
def test_pin_rule(ref, pinned):
    assert bool(PINNED.match(ref)) is pinned


def test_every_uses_is_seen():
    deploy = yaml.safe_load((REPO_ROOT / ".github/workflows/deploy.yml").read_text())
    assert any(ref.startswith("aws-actions/amazon-ecr-login@") for ref in uses_of(deploy))


def jobs_running_packer() -> list[tuple[str, str, list[dict]]]:
    found = []
    for path in WORKFLOWS:
        for name, job in (yaml.safe_load((REPO_ROOT / path).read_text()).get("jobs") or {}).items():
            steps = job.get("steps") or []
            if any(re.search(r"(^|\s)packer\s", step.get("run", "")) or ".ci/run" in step.get("run", "")
                   for step in steps):
                found.append((path, name, steps))
    return found


def test_jobs_that_run_packer_are_found():
    assert {path for path, _, _ in jobs_running_packer()} >= {".github/workflows/ci.yml",
                                                              ".github/workflows/bake.yml"}


@pytest.mark.parametrize("path, name, steps", jobs_running_packer(), ids=lambda value: str(value)[:40])
def test_packer_is_1_14_or_newer_and_its_plugins_come_from_packer_init(path, name, steps):
    """Packer before 1.14 fetches plugins from GitHub, where the current releases have no
    SHA256SUMS; `packer plugins install github.com/...` pins would fail the same way."""
    [setup] = [step for step in steps if step.get("uses", "").startswith("hashicorp/setup-packer@")]
    major, minor = (int(part) for part in str(setup["with"]["version"]).split(".")[:2])
    assert (major, minor) >= (1, 14), f"{path} {name}: Packer {setup['with']['version']}"
    runs = [step.get("run", "") for step in steps]
    assert any("packer init packer/plugins/" in text for text in runs), f"{path} {name}"
    assert not any("packer plugins install" in text for text in runs)


@pytest.mark.parametrize("path, name, steps", jobs_running_packer(), ids=lambda value: str(value)[:40])
def test_sudo_keeps_the_pinned_packer_on_path(path, name, steps):
    """sudo replaces PATH with its secure_path, which would find Debian's Packer or none."""
    for step in steps:
        text = step.get("run", "")
        if re.search(r"\bsudo\b", text) and ".ci/run" in text:
            assert 'env "PATH=$PATH"' in text, f"{path} {name}: {text}"


def test_the_plugins_file_declares_every_builder_the_template_uses():
    template = (REPO_ROOT / "packer" / "onehost.pkr.hcl").read_text()
    plugins = (REPO_ROOT / "packer" / "plugins" / "plugins.pkr.hcl").read_text()
    builders = set(re.findall(r'^source\s+"([a-z]+)(?:-[a-z]+)?"', template, flags=re.M))
    declared = set(re.findall(r'source\s*=\s*"github.com/hashicorp/([a-z]+)"', plugins))
    assert builders == {"amazon", "docker"}
    assert builders <= declared
