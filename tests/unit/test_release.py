import json

import pytest

from onehost.commands import release
from onehost.commands.release import ReleaseError


def test_env_file_parsing_skips_comments_and_unquotes():
    text = "# settings\nSECRET_KEY='abc=def'\n\nexport DEBUG=false\nEMPTY=\n"
    assert release.parse_env_file(text, "app.env") == {
        "SECRET_KEY": "abc=def", "DEBUG": "false", "EMPTY": ""}


def test_env_file_error_names_file_and_line():
    with pytest.raises(ReleaseError, match=r"app.env:2: expected KEY=VALUE"):
        release.parse_env_file("A=1\nnot a setting\n", "app.env")


def test_missing_secret_key_is_refused_with_the_fix():
    with pytest.raises(ReleaseError, match=r"SECRET_KEY not set in app.env.*secrets.token_urlsafe"):
        release.check_app_env({"DB_PASSWORD": "x"}, "app.env")


def test_secret_given_as_file_is_accepted():
    assert release.check_app_env({"SECRET_KEY_FILE": "/run/secrets/key", "DB_PASSWORD": "x"}, "app.env") is None
    with pytest.raises(ReleaseError, match="DB_PASSWORD not set"):
        release.check_app_env({"SECRET_KEY_FILE": "/run/secrets/key"}, "app.env")


def test_debug_in_production_is_refused():
    with pytest.raises(ReleaseError, match="DEBUG is on"):
        release.check_app_env({"SECRET_KEY": "k", "DB_PASSWORD": "p", "DEBUG": "True"}, "app.env")


def test_render_env_is_sorted_and_stable():
    assert release.render_env({"B": "2", "A": "1"}) == "A=1\nB=2\n"


@pytest.mark.parametrize("reference, repository, tag", [
    ("timewarp:v1", "timewarp", "v1"),
    ("timewarp", "timewarp", "latest"),
    ("registry.example.com:5000/team/timewarp:2024.1", "registry.example.com:5000/team/timewarp", "2024.1"),
    ("ghcr.io/team/timewarp@sha256:abcd", "ghcr.io/team/timewarp", "latest"),
])
def test_image_reference_parts(reference, repository, tag):
    assert release.image_repository(reference) == repository
    assert release.image_tag(reference) == tag


def test_pinned_reference_names_the_image_id():
    assert release.pinned_reference("timewarp:v1", "sha256:0123456789abcdef") == "timewarp:id-0123456789ab"


def test_release_id_is_readable_and_content_addressed():
    first = release.release_id("timewarp:v1", "sha256:aa", "compose", "env")
    assert first.startswith("v1-") and len(first) == len("v1-") + 10
    assert release.release_id("timewarp:v1", "sha256:aa", "compose", "env") == first
    assert release.release_id("timewarp:v1", "sha256:aa", "compose", "env2") != first
    assert release.release_id("timewarp:v1", "sha256:bb", "compose", "env") != first


def test_release_record_holds_no_secrets():
    record = json.loads(release.release_record("v1-x", "timewarp:v1", "sha256:aa", "abc123",
                                               "me@laptop", "2026-01-01T00:00:00+00:00"))
    assert record == {"id": "v1-x", "image": "timewarp:v1", "image_id": "sha256:aa",
                      "git_commit": "abc123", "deployed_by": "me@laptop",
                      "created_at": "2026-01-01T00:00:00+00:00"}


def test_pruning_keeps_the_newest_and_the_protected_releases():
    rows = [(1, "r1", "app:id-1"), (2, "r2", "app:id-2"), (3, "r3", "app:id-3"),
            (4, "r4", "app:id-3"), (5, "r5", "app:id-5")]
    releases, images = release.releases_to_prune(rows, keep=2, protected={"r1"})
    assert releases == ["r3", "r2"]
    # r3's image is r4's too, which stays.
    assert images == ["app:id-2"]


def test_pruning_nothing_when_under_the_limit():
    assert release.releases_to_prune([(1, "r1", "a"), (2, "r2", "b")], keep=5, protected=set()) == ([], [])


@pytest.mark.parametrize("pinned, archive", [
    ("timewarp:id-0123456789ab", "0123456789ab.tar"),
    ("registry.example.com:5000/team/timewarp:id-0123456789ab", "0123456789ab.tar"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/timewarp@sha256:" + "a" * 64, None),
    ("postgres:17", None),
    ("timewarp:id-nothex", None),
])
def test_a_shipped_image_keeps_its_archive_under_its_short_id(pinned, archive):
    """onehost-stacks looks the archive up by the same rule (`${image##*:id-}.tar`)."""
    assert release.shipped_archive(pinned) == archive
