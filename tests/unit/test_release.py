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


IDENTITY = {"POSTGRES_USER": "shop", "POSTGRES_DB": "shop"}


def test_a_first_deploy_or_the_same_names_are_not_refused():
    assert release.data_identity_refusal(None, IDENTITY, "web-1", None) is None
    assert release.data_identity_refusal(IDENTITY, {**IDENTITY, "POSTGRES_PASSWORD": "x"}, "web-1", None) is None


def test_another_database_user_is_refused_naming_both_the_cause_and_the_fix():
    message = release.data_identity_refusal(
        IDENTITY, {"POSTGRES_USER": "timewarp", "POSTGRES_DB": "timewarp", "POSTGRES_PASSWORD": "s3cret"},
        "web-1", None)
    assert message == (
        "web-1: refused: the data stack's PostgreSQL was initialised with POSTGRES_USER=shop, POSTGRES_DB=shop, "
        "and this deploy asks for POSTGRES_USER=timewarp, POSTGRES_DB=timewarp; PostgreSQL keeps the user and "
        "database its data volume was created with, so the app could not log in. Likely cause: "
        "ONEHOST_APP_CONFIG is not set in this shell, so the deploy fell back to the default app name "
        "(or --data db_user/db_name differ). Fix: export ONEHOST_APP_CONFIG=<the project's onehost.toml> "
        "(the one with this host's app_name), or pass --data db_user=shop --data db_name=shop. "
        "Nothing on the host was changed.")
    assert "s3cret" not in message


def test_a_different_app_config_is_named_as_the_likely_cause():
    message = release.data_identity_refusal(IDENTITY, {**IDENTITY, "POSTGRES_DB": "blog"}, "web-1",
                                            "/src/blog/onehost.toml")
    assert "POSTGRES_DB=blog" in message and "POSTGRES_DB=shop" in message
    assert "ONEHOST_APP_CONFIG=/src/blog/onehost.toml names another app's onehost.toml" in message


def test_the_data_identity_fact_reads_the_names_and_never_the_password():
    from deploy.facts import DataStackIdentity
    fact = DataStackIdentity()
    command = fact.command("/data/stacks/data/postgres.env")
    assert command == ("if [ -f /data/stacks/data/postgres.env ]; then echo __present__; "
                       "grep -E '^(POSTGRES_USER|POSTGRES_DB)=' /data/stacks/data/postgres.env || true; "
                       "else echo __absent__; fi")
    assert fact.process(["__absent__"]) is None
    assert fact.process(["__present__", "POSTGRES_DB=shop", "POSTGRES_USER=shop"]) == IDENTITY


def test_the_release_records_the_apps_commit_not_this_tools(monkeypatch):
    from deploy.plans import release_plan
    monkeypatch.setattr(release_plan.local_images, "_DESCRIBED", {
        "shop:v1": {"Id": "sha256:aa", "Config": {"Labels": {release_plan.app_image.REVISION_LABEL: "c0ffee"}}}})
    shipped = release_plan.HostImage("shop:v1", "sha256:aa", "shop:id-aa")
    assert release_plan._app_commit(shipped) == "c0ffee"
    pulled = release_plan.HostImage("registry.example.com/shop:v1", None, "registry.example.com/shop@sha256:bb")
    assert release_plan._app_commit(pulled) is None
