"""The local images a deploy names, inspected side by side once: a stand-in `docker` here."""

import json

import pytest

from deploy.plans import local_images
from onehost.local import docker_cli

pytestmark = pytest.mark.unit

IMAGES = {
    "shop:v1": {"Id": "sha256:aa", "Config": {"User": "10001:10001",
                                              "Labels": {"org.opencontainers.image.revision": "c0ffee"}}},
    "postgres:17": {"Id": "sha256:bb", "Config": {"User": "", "Labels": None}},
}
# `docker image inspect --format '{{json .}}' REF`: the image's JSON or exit 1, once $STARTS calls
# have started; a call that waited 10 s for them fails (calls made one after another would).
FAKE_DOCKER = """#!/bin/sh
echo "$5" >> "$CALLS"
i=0; while [ "$(wc -l < "$CALLS")" -lt "$STARTS" ]; do
  [ "$i" -lt 200 ] || exit 1; sleep 0.05; i=$((i + 1))
done
case "$5" in
{cases}
  *) echo "Error: No such image: $5" >&2; exit 1;;
esac
"""


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    cases = "\n".join(f"  '{reference}') echo '{json.dumps(image)}';;" for reference, image in IMAGES.items())
    (tmp_path / "docker").write_text(FAKE_DOCKER.format(cases=cases))
    (tmp_path / "docker").chmod(0o755)
    calls = tmp_path / "calls"
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("STARTS", "1")
    monkeypatch.setattr(local_images, "_DESCRIBED", {})
    return calls


def test_images_are_inspected_side_by_side_each_once(fake_docker, monkeypatch):
    monkeypatch.setenv("STARTS", "3")                # each call answers once all three have started
    described = docker_cli.inspect_images(["shop:v1", "postgres:17", "missing:1", "shop:v1"])
    assert described == {"shop:v1": IMAGES["shop:v1"], "postgres:17": IMAGES["postgres:17"], "missing:1": None}
    assert sorted(fake_docker.read_text().split()) == ["missing:1", "postgres:17", "shop:v1"]


def test_a_deploy_reads_ids_users_and_labels_from_one_inspection(fake_docker):
    local_images.describe("shop:v1", "postgres:17", "missing:1")
    assert local_images.image_id("shop:v1") == "sha256:aa"
    assert local_images.image_id("missing:1") is None
    assert local_images.user("sha256:aa") == "10001:10001"     # known by its id too
    assert local_images.user("postgres:17") == ""
    assert local_images.label("shop:v1", "org.opencontainers.image.revision") == "c0ffee"
    assert local_images.label("postgres:17", "org.opencontainers.image.revision") is None
    assert local_images.user("missing:1") is None
    assert len(fake_docker.read_text().split()) == 3


def test_an_image_not_described_yet_is_inspected_when_first_read(fake_docker):
    assert local_images.image_id("postgres:17") == "sha256:bb"
    assert local_images.image_id("postgres:17") == "sha256:bb"
    assert fake_docker.read_text().split() == ["postgres:17"]
