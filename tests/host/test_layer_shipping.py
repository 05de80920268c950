"""Shipping an image without a registry sends only the layers the host lacks.

The bytes are counted where they arrive: the instance's own network interface (every byte of the
SSH connection the deploy uses passes it), not what the deploy says it sent.
"""

import hashlib
import json
import os
import tarfile

import pytest

from onehost.local import docker_cli
from onehost.local.shell import run
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY

TOP_LAYER = f"{APP_REPOSITORY}:test-toplayer"
LAYER_BYTES = 4_000_000             # random, so no compression on the way can shrink it
OVERHEAD_BYTES = 1_500_000          # the deploy's own SSH traffic, the image's config and manifest


def received_bytes(instance) -> int:
    return int(instance.inner("cat", "/sys/class/net/eth0/statistics/rx_bytes").stdout)




@pytest.fixture(scope="module")
def top_layer_image(tmp_path_factory):
    """The session's image with one more layer: a file of random bytes, as a code change makes."""
    context = tmp_path_factory.mktemp("toplayer")
    (context / "payload.bin").write_bytes(os.urandom(LAYER_BYTES))
    (context / "Dockerfile").write_text(f"FROM {APP_IMAGE}\nCOPY payload.bin /app/payload.bin\n")
    run(["docker", "build", "--quiet", "--tag", TOP_LAYER, str(context)], capture=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return docker_cli.image_id(TOP_LAYER)


@pytest.fixture(scope="module")
def shipped(deployer, test_instance, deployed, top_layer_image):
    """A deploy of that image; the session's release is put back afterwards."""
    before = received_bytes(test_instance)
    result = deployer.run({"image": TOP_LAYER})
    sent = received_bytes(test_instance) - before
    yield result, sent
    deployer.run({"image": APP_IMAGE})


def test_only_the_new_layer_crosses_the_connection(shipped):
    result, sent = shipped
    assert sent < LAYER_BYTES + OVERHEAD_BYTES, (
        f"the instance received {sent} bytes for a {LAYER_BYTES}-byte layer:\n{result.stdout[-3000:]}")
    said = result.stdout + result.stderr
    assert "1 of " in said and "layers the host lacks" in said, said[-3000:]


def test_the_host_runs_exactly_that_image(shipped, test_instance, top_layer_image):
    container = test_instance.live_container()
    running = test_instance.inner("docker", "inspect", "--format", "{{.Image}}", container).stdout.strip()
    assert running == top_layer_image
    payload = test_instance.inner("docker", "exec", container, "stat", "-c", "%s", "/app/payload.bin").stdout
    assert int(payload) == LAYER_BYTES


def test_the_data_volume_keeps_a_whole_archive_for_a_replacement_host(shipped, test_instance, top_layer_image,
                                                                        tmp_path):
    """A host that takes the data volume over has none of these layers and loads this archive at
    boot: each layer in it must be whole, which `docker load` checks by its diff id."""
    archive = f"/data/images/{top_layer_image.removeprefix('sha256:')[:12]}.tar"
    copy = tmp_path / "archive.tar"
    run(["docker", "cp", f"{test_instance.config.name}:{archive}", str(copy)], capture=True)
    with tarfile.open(copy) as tar:
        layers = json.load(tar.extractfile("manifest.json"))[0]["Layers"]
        digests = [f"sha256:{hashlib.file_digest(tar.extractfile(name), 'sha256').hexdigest()}"
                   for name in layers]
    assert digests == docker_cli.layer_diff_ids(top_layer_image)
