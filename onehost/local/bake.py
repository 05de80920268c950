"""Bake the local instance image with Packer's docker source, cached by the bake's inputs.

The same template and the same pyinfra bake make the AMI; only the source differs. Packer's
docker source cannot boot systemd, so Packer commits a *candidate* image; a throwaway instance
booted from it must pass the image suite (packer/image_suite) before the image gets its usable
tag. A candidate that fails is removed: a failed bake leaves no new image.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from onehost.local import base_images, docker_cli, instance
from onehost.local.content_hash import digest
from onehost.local.shell import CommandFailed, progress, run, timed
from onehost.paths import REPO_ROOT, state_dir
from onehost.remote.deploys import pyinfra_executable

IMAGE_REPOSITORY = "onehost/instance"
CANDIDATE_REPOSITORY = "onehost/instance-candidate"
# Everything the baked image is made from, and the image suite that gates it (it lives under
# packer/): a change to any of it means a new image, checked by the suite of this checkout.
BAKE_INPUTS = ("packer", "deploy/bake.py", "deploy/cleanup.py", "deploy/tasks",
               "deploy/rootfs", "deploy/group_data", "onehost/commands/cloudwatch_config.py")
IMAGE_SUITE = "packer/image_suite"
FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?: - |$)", re.MULTILINE)


def image_reference(base_image_id: str, root: Path = REPO_ROOT,
                    repository: str = IMAGE_REPOSITORY) -> str:
    tag = digest([root / path for path in BAKE_INPUTS], base_image_id, root=root)
    return f"{repository}:{tag}"


def packer_command(base_image: str, repository: str, tag: str, pyinfra: str) -> list[str]:
    return [
        "packer", "build", "-only=docker.local", "-color=false",
        "-var", f"base_image={base_image}",
        "-var", f"image_repository={repository}",
        "-var", f"image_tag={tag}",
        "-var", f"pyinfra={pyinfra}",
        str(REPO_ROOT / "packer"),
    ]


def packer_environment(scratch: Path) -> dict:
    """Packer keeps its config, plugins and temp files in a scratch dir, and never phones home."""
    scratch.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HOME": str(scratch), "PACKER_CONFIG_DIR": str(scratch),
            "TMPDIR": str(scratch), "CHECKPOINT_DISABLE": "1"}


# ------------------------------------------------------------------ the candidate gate

def candidate_config(candidate: str) -> instance.InstanceConfig:
    """A throwaway instance of the candidate image: its own name and volumes, no ports."""
    suffix = re.sub(r"[^a-z0-9-]", "-", candidate.rsplit(":", 1)[-1])[:24]
    return instance.InstanceConfig(name=f"onehost-candidate-{suffix}", image=candidate)


def candidate_run_command(config: instance.InstanceConfig) -> list[str]:
    """The instance's `docker run` without published ports: the suite reaches it by docker exec,
    so candidates never collide with running instances (or with each other)."""
    command = instance.run_command(config)
    kept = []
    skip = False
    for arg in command:
        if skip:
            skip = False
            continue
        if arg == "--publish":
            skip = True
            continue
        kept.append(arg)
    return kept


def image_suite_command(host_spec: str, image: str | None, expect_packages=(),
                        python: str = sys.executable) -> list[str]:
    """pytest over the image suite against one host (and, locally, its committed image)."""
    command = [python, "-m", "pytest", IMAGE_SUITE, "-p", "no:cacheprovider", "-q",
               "--image-host", host_spec]
    if image:
        command += ["--image", image]
    for package in expect_packages:
        command += ["--image-expect-package", package]
    return command


def failed_checks(pytest_output: str) -> list[str]:
    """The test ids pytest's short summary lists as failed or in error."""
    return [name.split("::", 1)[-1] for name in FAILED_TEST.findall(pytest_output)]


def verify_candidate(candidate: str, expect_packages=()) -> None:
    """Boot the candidate, run the image suite against it; CommandFailed naming what failed."""
    config = candidate_config(candidate)
    instance.reset(config)
    try:
        run(candidate_run_command(config), capture=True)
        instance.wait_until(lambda: instance._systemd_settled(config),
                            f"systemd on {config.name}", timeout=90)
        result = subprocess.run(
            image_suite_command(f"docker://{config.name}", candidate, expect_packages),
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    finally:
        instance.reset(config)
    if result.returncode != 0:
        names = failed_checks(result.stdout) or [f"pytest exited {result.returncode}"]
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise CommandFailed(f"image checks failed for {candidate}: {', '.join(names)}\n{tail}")


def remove_image(reference: str) -> None:
    run(["docker", "image", "rm", "--force", reference], capture=True, check=False)


def bake_local_image(force: bool = False, expect_packages=(),
                     repository: str = IMAGE_REPOSITORY) -> str:
    """Return the reference of the baked local image, baking it when its inputs changed.

    A bake commits a candidate, boots it and runs the image suite; only a candidate that
    passes is tagged `<repository>:<hash>` and `:latest`. `expect_packages` adds checks (a
    package that must be installed), e.g. to prove that a failing check stops the bake.
    """
    docker_cli.require_daemon()
    if not shutil.which("packer"):
        raise CommandFailed("packer is not installed: apt-get install packer")
    base = base_images.ensure("instance")
    reference = image_reference(docker_cli.image_id(base), repository=repository)
    tag = reference.rsplit(":", 1)[1]
    if docker_cli.image_id(reference) and not force:
        progress(f"instance image {reference} is up to date")
    else:
        candidate = f"{CANDIDATE_REPOSITORY}:{tag[:12]}-{os.getpid()}"
        candidate_repository, candidate_tag = candidate.split(":")
        try:
            with timed(f"baking {candidate} from {base} with Packer"):
                run(packer_command(base, candidate_repository, candidate_tag, pyinfra_executable()),
                    env=packer_environment(state_dir() / "packer"), cwd=REPO_ROOT)
            with timed(f"checking {candidate} on a booted instance (image suite)"):
                verify_candidate(candidate, expect_packages)
        except BaseException:
            remove_image(candidate)
            raise
        run(["docker", "tag", candidate, reference])
        remove_image(candidate)
    run(["docker", "tag", reference, f"{repository}:latest"])
    return reference
