"""The app image's digest from ECR (on moto), asked before the host is touched."""

import json

import pytest

from onehost.commands import registry
from onehost.local.registry import resolve_digest

ACCOUNT = "123456789012"   # moto's account
MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
               "digest": "sha256:" + "c0" * 32},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                "digest": "sha256:" + "1a" * 32}],
})


@pytest.fixture
def ecr_image(aws):
    ecr = aws.client("ecr", region_name="eu-west-1")
    ecr.create_repository(repositoryName="timewarp")
    pushed = ecr.put_image(repositoryName="timewarp", imageManifest=MANIFEST, imageTag="abc123")
    return f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/timewarp", pushed["image"]["imageId"]["imageDigest"]


def test_a_tag_resolves_to_its_manifest_digest(ecr_image):
    ecr_image, pushed_digest = ecr_image
    digest = resolve_digest(registry.parse_reference(f"{ecr_image}:abc123"))
    assert digest == pushed_digest and len(digest) == len("sha256:") + 64
    pinned = registry.parse_reference(f"{ecr_image}:abc123").pinned(digest)
    assert pinned == f"{ecr_image}@{digest}"
    # A reference that already names the digest is checked, and names the same one.
    assert resolve_digest(registry.parse_reference(pinned)) == digest


def test_a_missing_tag_names_the_reference(ecr_image):
    ecr_image, _ = ecr_image
    with pytest.raises(registry.RegistryError) as error:
        resolve_digest(registry.parse_reference(f"{ecr_image}:not-pushed"))
    assert str(error.value).startswith(f"{ecr_image}:not-pushed is not in registry ")
    assert f"docker push {ecr_image}:not-pushed" in str(error.value)


def test_a_missing_repository_names_the_reference(aws):
    reference = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/never-created:v1"
    with pytest.raises(registry.RegistryError, match="never-created:v1 is not in registry"):
        resolve_digest(registry.parse_reference(reference))


def test_no_aws_credentials_is_a_clear_error(ecr_image, monkeypatch, tmp_path):
    ecr_image, _ = ecr_image
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")   # nothing leaves this machine
    with pytest.raises(registry.RegistryError) as error:
        resolve_digest(registry.parse_reference(f"{ecr_image}:abc123"))
    assert str(error.value).startswith("no AWS credentials on this machine to ask ECR")
    assert "aws configure" in str(error.value)
