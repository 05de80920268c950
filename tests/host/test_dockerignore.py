"""The .dockerignore `onehost init` writes, applied by Docker itself: a project with secrets, data
and clutter at several depths is built into an image, and the image's files are listed.

Needs the local dockerd only (no instance, no registry: `FROM scratch` pulls nothing). The
build uses the classic builder, which is what this machine's Docker has, and BuildKit too where
the buildx plugin is installed: both apply moby/patternmatcher to the context.
"""

import io
import os
import subprocess
import tarfile
import uuid

import pytest

from tests.context_tree import EXPECTED_IN_IMAGE, EXPECTED_LEFT_OUT, context_files, make_context

# The whole context copied under /ctx: what the image could carry is exactly what Docker sent.
PROBE_DOCKERFILE = "FROM scratch\nCOPY . /ctx/\n"
IN_IMAGE = "ctx/"


def buildx_installed() -> bool:
    try:
        return subprocess.run(["docker", "buildx", "version"], capture_output=True, timeout=30).returncode == 0
    except FileNotFoundError:
        return False


BUILDERS = [
    pytest.param("0", id="classic-builder"),
    pytest.param("1", id="buildkit", marks=pytest.mark.skipif(not buildx_installed(),
                                                              reason="the docker buildx plugin is not installed")),
]


def docker(*args: str, environ: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, timeout=300, env=environ)
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed: {result.stdout.decode()[-2000:]}{result.stderr.decode()[-2000:]}")
    return result


def image_files(image: str, container: str) -> set[str]:
    """The regular files under /ctx in the image, read from `docker export` of a created (never
    started) container: the image's own filesystem, nothing from a run."""
    docker("create", "--name", container, image, "never-run")
    exported = docker("export", container).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        return {member.name.removeprefix(IN_IMAGE) for member in archive.getmembers()
                if member.isfile() and member.name.startswith(IN_IMAGE)}


@pytest.mark.parametrize("buildkit", BUILDERS)
def test_the_image_carries_the_app_and_no_secrets_data_or_clutter_at_any_depth(tmp_path, buildkit):
    context = make_context(tmp_path / "shop")
    assert context_files(context) == EXPECTED_IN_IMAGE | EXPECTED_LEFT_OUT  # the tree is what the lists say
    dockerfile = tmp_path / "probe.Dockerfile"  # outside the context, so the context is init's alone
    dockerfile.write_text(PROBE_DOCKERFILE)
    name = f"onehost-dockerignore-test-{uuid.uuid4().hex[:12]}"
    image = f"{name}:probe"
    try:
        docker("build", "--tag", image, "--file", str(dockerfile), str(context),
               environ={**os.environ, "DOCKER_BUILDKIT": buildkit})
        in_image = image_files(image, name)
    finally:
        docker("rm", "--force", name, check=False)
        docker("rmi", "--force", image, check=False)
    leaked, missing = sorted(EXPECTED_LEFT_OUT & in_image), sorted(EXPECTED_IN_IMAGE - in_image)
    assert (leaked, missing) == ([], []), f"in the image but must not be: {leaked}; missing from it: {missing}"
    assert in_image == EXPECTED_IN_IMAGE
