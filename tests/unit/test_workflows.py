"""The GitHub workflows and composite actions: they pass their JSON schemas, zizmor (both offline)
and shellcheck; every `uses:` names an action in this repository or a release pinned by commit,
and none of those releases runs on Node 20; the jobs that run pyinfra reach the hosts through the
reach-hosts action (Instance Connect Endpoint, pinned host keys) and nothing trusts a host key
on first contact."""

import re
import subprocess
from collections import Counter

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
REACH_HOSTS = ".github/actions/reach-hosts"

# This repository (GitHub docs, "Workflow syntax for GitHub Actions", jobs.<job_id>.steps[*].uses):
# `./path` is relative to the workspace, so it needs a checkout first; `$/path` is the
# repository at the running commit (GitHub changelog 2026-07-30, "Reference same-repository
# actions with self-repository syntax"; zizmor's self-repository audit asks for it).
LOCAL = re.compile(r"^(?:\./|\$/)(?P<path>[\w.-]+(?:/[\w.-]+)*)$")
# Another repository: owner/repo[/path]@<full commit SHA>, with its release as `# vX.Y.Z`.
RELEASE = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?:/[^@\s]+)?@[0-9a-f]{40}$")
VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
DOCKER_DIGEST = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*?))?\s*$")

# The first release of each pinned action whose action.yml says `runs.using: node24`, read
# with `git show <tag>:action.yml` in the action's own repository. Node 20 actions are
# deprecated: runners force them onto Node 24 from June 2026 and drop Node 20 in September 2026
# (github.blog/changelog/2025-09-19-deprecation-of-node-20-on-github-actions-runners).
NODE24_FROM = {
    "actions/checkout": (5, 0, 0),
    "actions/setup-python": (6, 0, 0),
    "actions/upload-artifact": (6, 0, 0),
    "aws-actions/configure-aws-credentials": (6, 0, 0),
    "aws-actions/amazon-ecr-login": (2, 0, 2),  # 2.0.0 node16, 2.0.1 node20
}
# Actions with no node24 release yet: every release up to this one runs on node20.
NODE20_THROUGH = {
    "hashicorp/setup-packer": (3, 1, 0),  # v3.0.0 and v3.1.0 node20, v2.x node16
}

# Settings that make ssh or pyinfra trust a host key it has never seen.
FIRST_CONTACT_TRUST = re.compile(
    r"StrictHostKeyChecking[\s=]+[\"']?(?:accept-new|no|off)\b"
    r"|ssh_strict_host_key_checking[\s=:]+[\"']?(?:accept-new|no|off)\b", re.IGNORECASE)


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def load(path: str) -> dict:
    return yaml.safe_load((REPO_ROOT / path).read_text())


def test_workflows_are_found():
    assert {".github/workflows/ci.yml", ".github/workflows/deploy.yml",
            ".github/workflows/rollback.yml"} <= set(WORKFLOWS)
    assert {f"{REACH_HOSTS}/action.yml", ".github/actions/public-health/action.yml"} <= set(ACTIONS)


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_schema(path):
    result = run([installed_tool("check-jsonschema"), "--builtin-schema", SCHEMAS[path], path])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_zizmor(path):
    result = run([installed_tool("zizmor"), "--offline", "--no-progress", "--color=never", path])
    assert result.returncode == 0, result.stdout + result.stderr


def steps_of(document: dict) -> list[dict]:
    jobs = (document.get("jobs") or {}).values()
    return [step for job in jobs for step in job.get("steps") or []] + \
        ((document.get("runs") or {}).get("steps") or [])


def uses_of(document: dict) -> list[str]:
    """Every `uses:` of a workflow (steps and reusable-workflow jobs) or a composite action."""
    jobs = (document.get("jobs") or {}).values()
    return [job["uses"] for job in jobs if "uses" in job] + \
        [step["uses"] for step in steps_of(document) if "uses" in step]


def uses_lines(path: str) -> list[tuple[str, str | None]]:
    """Each `uses:` as written, with the comment after it (YAML loading drops comments)."""
    return [(match["ref"], match["comment"]) for line in (REPO_ROOT / path).read_text().splitlines()
            if (match := USES_LINE.match(line))]


def version_of(comment: str | None) -> tuple[int, int, int] | None:
    match = VERSION.match(comment or "")
    return tuple(int(part) for part in match.groups()) if match else None


def uses_problem(ref: str, comment: str | None) -> str | None:
    """Why a `uses:` value is wrong, or None: an action directory (or reusable workflow) of this
    repository, or another repository's release pinned by commit SHA with `# vX.Y.Z`."""
    if match := LOCAL.match(ref):
        parts = match["path"].split("/")
        target = REPO_ROOT.joinpath(*parts)
        if ".." in parts:
            return f"{ref}: leaves the repository"
        if target.is_dir() and any((target / name).is_file() for name in ("action.yml", "action.yaml")):
            return None
        if target.is_file() and match["path"].startswith(".github/workflows/"):
            return None
        return f"{ref}: no action.yml in {match['path']}"
    if DOCKER_DIGEST.match(ref):
        return None
    if not RELEASE.match(ref):
        return (f"{ref}: write ./<path> or $/<path> for this repository's actions, "
                "owner/repo@<full commit SHA>  # vX.Y.Z for others")
    if version_of(comment) is None:
        return f"{ref}: add the release the SHA is, as `# vX.Y.Z` (found {comment!r})"
    return None


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_every_uses_is_a_local_action_or_a_pinned_release(path):
    written = uses_lines(path)
    assert Counter(ref for ref, _ in written) == Counter(uses_of(load(path))), \
        "a `uses:` the line scan misses (write each on its own line)"
    problems = [problem for ref, comment in written if (problem := uses_problem(ref, comment))]
    assert not problems, problems


SHA = "3d3c42e5aac5ba805825da76410c181273ba90b1"


@pytest.mark.parametrize(("ref", "comment", "right"), [
    ("./.github/actions/reach-hosts", None, True),
    ("$/.github/actions/public-health", None, True),
    ("./.github/actions/missing", None, False),
    ("$/.github/workflows", None, False),
    ("./.github/actions/../actions/reach-hosts", None, False),
    (".github/actions/reach-hosts", None, False),
    (f"actions/checkout@{SHA}", "v7.0.1", True),
    (f"github/codeql-action/init@{SHA}", "v4.31.0", True),
    (f"actions/checkout@{SHA}", None, False),
    (f"actions/checkout@{SHA}", "v7", False),
    ("actions/checkout@v7.0.1", "v7.0.1", False),
    (f"actions/checkout@{SHA[:-1]}", "v7.0.1", False),
    ("docker://alpine:3.20", None, False),
    ("docker://alpine@sha256:" + "a" * 64, None, True),
])
def test_uses_rule(ref, comment, right):
    assert (uses_problem(ref, comment) is None) is right


def test_every_uses_is_seen():
    deploy = load(".github/workflows/deploy.yml")
    assert any(ref.startswith("aws-actions/amazon-ecr-login@") for ref in uses_of(deploy))
    assert f"$/{REACH_HOSTS}" in uses_of(deploy)
    assert any(ref.startswith("actions/setup-python@") for ref in uses_of(load(f"{REACH_HOSTS}/action.yml")))


def pinned_releases() -> list:
    cases = []
    for path in sorted(SCHEMAS):
        for ref, comment in uses_lines(path):
            match, version = RELEASE.match(ref), version_of(comment)
            if not (match and version):
                continue  # the rule above reports it
            action = match["action"]
            known_node20 = action in NODE20_THROUGH and version <= NODE20_THROUGH[action]
            marks = [pytest.mark.xfail(strict=True, reason=f"{action}: no release on node24 yet")] \
                if known_node20 else []
            cases.append(pytest.param(action, version, id=f"{path}:{action}@{comment}", marks=marks))
    return cases


@pytest.mark.parametrize(("action", "version"), pinned_releases())
def test_no_pinned_action_runs_on_node20(action, version):
    shown = "v" + ".".join(map(str, version))
    if action in NODE24_FROM:
        first = "v" + ".".join(map(str, NODE24_FROM[action]))
        assert version >= NODE24_FROM[action], f"{action} {shown} runs on node20; {first} is the first on node24"
    elif action in NODE20_THROUGH and version <= NODE20_THROUGH[action]:
        pytest.fail(f"{action} {shown} runs on node20")
    else:
        pytest.fail(f"{action} {shown}: check its action.yml `runs.using` and record it in NODE24_FROM")


def test_the_node_tables_cover_every_pinned_action():
    pinned = {param.values[0] for param in pinned_releases()}
    assert pinned == set(NODE24_FROM) | set(NODE20_THROUGH)


def run_scripts() -> list:
    return [pytest.param(step["run"], id=f"{path}:{step.get('id') or step.get('name') or index}")
            for path in sorted(SCHEMAS) for index, step in enumerate(steps_of(load(path))) if "run" in step]


@pytest.mark.parametrize("script", run_scripts())
def test_run_steps_pass_shellcheck(script, tmp_path):
    """Every run step is bash (GitHub's default on Linux runners; the actions say `shell: bash`)."""
    path = tmp_path / "step.sh"
    path.write_text(script)
    result = subprocess.run([installed_tool("shellcheck"), "--shell=bash", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


# ------------------------------------------------------------------ reaching the hosts

def jobs_running_pyinfra() -> list:
    """(workflow, job name, job) for every job with a step that runs pyinfra on the inventory."""
    found = []
    for path in WORKFLOWS:
        for name, job in (load(path).get("jobs") or {}).items():
            if any(pyinfra_on_hosts(step) for step in job.get("steps") or []):
                found.append(pytest.param(path, name, job, id=f"{path}:{name}"))
    return found


def pyinfra_on_hosts(step: dict) -> bool:
    return bool(re.search(r"(?m)^\s*\S*pyinfra\s.*deploy/inventory\.py", step.get("run", "")))


def test_jobs_that_run_pyinfra_are_found():
    assert {(param.values[0], param.values[1]) for param in jobs_running_pyinfra()} == {
        (".github/workflows/deploy.yml", "deploy"), (".github/workflows/rollback.yml", "rollback")}


@pytest.mark.parametrize(("path", "name", "job"), jobs_running_pyinfra())
def test_jobs_that_run_pyinfra_reach_the_hosts_through_the_action(path, name, job):
    """AWS credentials first (the inventory's boto3 and the tunnel use them), then reach-hosts,
    then pyinfra with its outputs, and no reach mode that skips the endpoint."""
    steps = job["steps"]
    credentials = [i for i, step in enumerate(steps)
                   if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    reach = [i for i, step in enumerate(steps)
             if (match := LOCAL.match(step.get("uses", ""))) and match["path"] == REACH_HOSTS]
    assert len(reach) == 1 and credentials and credentials[0] < reach[0], f"{path} {name}"
    reach_id = steps[reach[0]]["id"]
    for index, step in enumerate(steps):
        if pyinfra_on_hosts(step):
            env = step.get("env") or {}
            assert index > reach[0]
            assert env.get("ONEHOST_TAGS") == f"${{{{ steps.{reach_id}.outputs.tags }}}}"
            assert env.get("ONEHOST_SSH_KEY") == f"${{{{ steps.{reach_id}.outputs.ssh-key-file }}}}"
            assert env.get("ONEHOST_REACH", "tunnel") == "tunnel"


def strings_in(node) -> list[str]:
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in [str(key), *strings_in(value)]]
    if isinstance(node, list):
        return [text for item in node for text in strings_in(item)]
    return [str(node)] if node is not None else []


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_nothing_trusts_a_host_key_on_first_contact(path):
    trusting = [text for text in strings_in(load(path)) if FIRST_CONTACT_TRUST.search(text)]
    assert not trusting, trusting


@pytest.mark.parametrize(("text", "trusting"), [
    ("ssh -o StrictHostKeyChecking=accept-new admin@host", True),
    ("ssh -o 'StrictHostKeyChecking no' admin@host", True),
    ("  StrictHostKeyChecking accept-new", True),
    ("pyinfra --data ssh_strict_host_key_checking=accept-new inventory.py deploy.py", True),
    ("pyinfra --data ssh_strict_host_key_checking=no inventory.py deploy.py", True),
    ("ssh -o StrictHostKeyChecking=yes admin@host", False),
    ("pyinfra --data ssh_strict_host_key_checking=yes inventory.py deploy.py", False),
])
def test_first_contact_rule(text, trusting):
    assert bool(FIRST_CONTACT_TRUST.search(text)) is trusting


def reach_hosts_step(step_id: str) -> dict:
    [step] = [step for step in load(f"{REACH_HOSTS}/action.yml")["runs"]["steps"] if step.get("id") == step_id]
    return step


@pytest.mark.parametrize(("stream", "version", "usable"), [
    ("stdout", "aws-cli/2.23.11 Python/3.12.6 Linux/6.8.0-1020-azure exe/x86_64.ubuntu.24", True),
    ("stdout", "aws-cli/2.12.0 Python/3.11.4 Linux/5.15.0-1040-azure exe/x86_64.ubuntu.22", True),
    ("stdout", "aws-cli/2.11.27 Python/3.11.3 Linux/5.15.0-1039-azure exe/x86_64.ubuntu.22", False),
    ("stderr", "aws-cli/1.33.0 Python/3.11.9 Linux/6.8.0 botocore/1.34.0", False),  # PyPI's awscli
    (None, None, False),  # no aws command
])
def test_reach_hosts_refuses_an_aws_cli_without_open_tunnel(stream, version, usable, tmp_path):
    """The action's check, run with a stand-in `aws` that prints the given version."""
    step = reach_hosts_step("aws-cli")
    assert step["shell"] == "bash"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if version:
        fake = bin_dir / "aws"
        fake.write_text(f"#!/bin/sh\necho '{version}'{' >&2' if stream == 'stderr' else ''}\n")
        fake.chmod(0o755)
    result = subprocess.run(["/bin/bash", "-c", step["run"]], env={"PATH": str(bin_dir)},
                            capture_output=True, text=True, timeout=30)
    if usable:
        assert result.returncode == 0, result.stdout + result.stderr
        assert version in result.stdout
    else:
        assert result.returncode == 1
        assert "::error title=No AWS CLI v2::" in result.stdout
        assert "open-tunnel" in result.stdout


def test_reach_hosts_checks_the_aws_cli_before_the_job_needs_it():
    steps = load(f"{REACH_HOSTS}/action.yml")["runs"]["steps"]
    ids = [step.get("id") for step in steps]
    assert ids.index("aws-cli") < ids.index("key")


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


def deploy_step() -> dict:
    [step] = [step for step in steps_of(load(".github/workflows/deploy.yml")) if step.get("name") == "Deploy"]
    return step


@pytest.mark.parametrize(("bucket", "passed"), [
    ("timewarp-backups-1a2b", ["--data", "backup_bucket=timewarp-backups-1a2b", "--data", "aws_region=eu-west-1"]),
    ("", []),
])
def test_the_deploy_step_passes_the_backup_bucket_when_it_is_set(bucket, passed, tmp_path):
    """Run as the runner runs it, with pyinfra replaced by a stub that prints its arguments."""
    pyinfra = tmp_path / ".venv" / "bin" / "pyinfra"
    pyinfra.parent.mkdir(parents=True)
    pyinfra.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    pyinfra.chmod(0o755)
    environ = {"PATH": "/usr/bin:/bin", "DOMAIN": "api.example.com", "LETSENCRYPT_EMAIL": "ops@example.com",
               "IMAGE": "123.dkr.ecr.eu-west-1.amazonaws.com/timewarp:c0ffee", "RUNNER_TEMP": "/tmp/runner",
               "BACKUP_BUCKET": bucket, "AWS_REGION": "eu-west-1"}
    assert {"DOMAIN", "LETSENCRYPT_EMAIL", "IMAGE", "BACKUP_BUCKET", "AWS_REGION"} <= set(deploy_step()["env"])
    result = subprocess.run(["/bin/bash", "-e", "-c", deploy_step()["run"]], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    arguments = [line for line in result.stdout.splitlines() if not line.startswith("::")]
    assert arguments[:3] == ["--yes", "deploy/inventory.py", "deploy/deploy.py"]
    assert arguments[-len(passed):] == passed if passed else "backup_bucket" not in result.stdout
    assert ("ONEHOST_BACKUP_BUCKET is not set" in result.stdout) is not bool(bucket)
