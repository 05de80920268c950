"""The host tier's app images are the session's own: two host tiers share one Docker daemon."""

from onehost.commands import release
from tests.host.conftest import app_repository, instance_settings
from tests.host.fixtures import session_images_command


def session_image(environ: dict, tag: str = "test-v1") -> str:
    return f"{app_repository(instance_settings(environ))}:{tag}"


def test_two_sessions_name_their_app_images_apart():
    first = session_image({"ONEHOST_TEST_INSTANCE": "onehost-h9"})
    second = session_image({"ONEHOST_TEST_INSTANCE": "onehost-h9-tls"})
    assert first == "timewarp-onehost-h9:test-v1"
    assert second == "timewarp-onehost-h9-tls:test-v1"
    assert session_image({}) == "timewarp-onehost-test:test-v1"   # the default test instance


def test_release_ids_keep_the_readable_tag():
    image = session_image({"ONEHOST_TEST_INSTANCE": "onehost-h9"}, "test-v2")
    assert release.release_id(image, "sha256:aa", "compose").startswith("test-v2-")


def test_the_session_lists_every_tag_of_its_repository_for_removal():
    assert session_images_command("timewarp-onehost-h9") == [
        "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "timewarp-onehost-h9"]
