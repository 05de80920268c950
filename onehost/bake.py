"""Bake the local instance image with Packer's docker source, cached by the bake's inputs.

The same template and the same pyinfra bake make the AMI; only the source differs.
"""

import os
import shutil
from pathlib import Path

from onehost import base_images, docker_cli
from onehost.content_hash import digest
from onehost.deploys import pyinfra_executable
from onehost.paths import REPO_ROOT, state_dir
from onehost.shell import CommandFailed, progress, run, timed

IMAGE_REPOSITORY = "onehost/instance"
# Everything the baked image is made from; a change to any of it means a new image.
BAKE_INPUTS = ("packer", "deploy/bake.py", "deploy/cleanup.py", "deploy/tasks",
               "deploy/rootfs", "deploy/group_data")


def image_reference(base_image_id: str, root: Path = REPO_ROOT) -> str:
    tag = digest([root / path for path in BAKE_INPUTS], base_image_id, root=root)
    return f"{IMAGE_REPOSITORY}:{tag}"


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


def bake_local_image(force: bool = False) -> str:
    """Return the reference of the baked local image, baking it when its inputs changed."""
    docker_cli.require_daemon()
    if not shutil.which("packer"):
        raise CommandFailed("packer is not installed: apt-get install packer")
    base = base_images.ensure("instance")
    reference = image_reference(docker_cli.image_id(base))
    if docker_cli.image_id(reference) and not force:
        progress(f"instance image {reference} is up to date")
    else:
        repository, tag = reference.split(":")
        with timed(f"baking {reference} from {base} with Packer"):
            run(packer_command(base, repository, tag, pyinfra_executable()),
                env=packer_environment(state_dir() / "packer"), cwd=REPO_ROOT)
    run(["docker", "tag", reference, f"{IMAGE_REPOSITORY}:latest"])
    return reference


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bake", help="bake the local instance image (Packer docker source + the pyinfra bake)",
        description="Build the local instance image the way the AMI is built: Packer runs "
                    "deploy/bake.py on the instance base image, then deploy/cleanup.py. "
                    "Skipped when nothing the image is made from has changed.")
    parser.add_argument("--force", action="store_true", help="bake even when an image for these inputs exists")
    parser.set_defaults(func=lambda args: print(bake_local_image(force=args.force)))
