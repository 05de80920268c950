"""The data stack keeps the identity its volume was made with; a release names the app's own commit.

A deploy asking for another database user or name (a shell without ONEHOST_APP_CONFIG, or
another project's onehost.toml) is refused before the host changes: PostgreSQL keeps running as
it was, its files stay byte for byte, the site keeps serving its rows. A release built with
`onehost build-app` from a git repository records that repository's HEAD.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onehost.local.app_image import CA_BUNDLE_VARIABLES
from onehost.paths import REPO_ROOT
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY

POSTGRES = "data-postgres-1"
DATA_STACK_FILES = "md5sum /data/stacks/data/compose.yaml /data/stacks/data/stack.env /data/stacks/data/postgres.env"
ANOTHER_APP = """app_name = "blog"
server_names = ["blog.example.com"]
image = "blog"
registry = "none"
"""


def data_stack_state(test_instance) -> tuple[str, str]:
    """PostgreSQL's container (id and start time) and the data stack's files (checksums)."""
    container = test_instance.inner("docker", "inspect", "--format", "{{.Id}} {{.State.StartedAt}}",
                                    POSTGRES).stdout
    return container, test_instance.inner("sh", "-c", DATA_STACK_FILES).stdout


def app_config(tmp_path) -> dict:
    path = tmp_path / "onehost.toml"
    path.write_text(ANOTHER_APP)
    return {"ONEHOST_APP_CONFIG": str(path)}


@pytest.mark.parametrize("data, environ, asked", [
    ({"db_user": "other"}, None, "POSTGRES_USER=other"),
    ({}, app_config, "POSTGRES_USER=blog, POSTGRES_DB=blog"),
], ids=["db_user given", "another app's onehost.toml"])
def test_a_deploy_that_would_change_the_database_user_is_refused(deployer, test_instance, deployed, tmp_path,
                                                                  data, environ, asked):
    status, row = test_instance.request("POST", "/api/events/", {
        "title": "kept", "happened_at": "2024-01-01T00:00:00Z"})
    assert status == 201, row
    before = data_stack_state(test_instance)
    environ = environ(tmp_path) if callable(environ) else {}

    result = deployer.run({"image": APP_IMAGE, **data}, environ=environ, check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the data stack's PostgreSQL was initialised with POSTGRES_USER=timewarp, POSTGRES_DB=timewarp" in output
    assert asked in output
    assert ("ONEHOST_APP_CONFIG=" + environ["ONEHOST_APP_CONFIG"] if environ
            else "ONEHOST_APP_CONFIG is not set") in output
    assert "--data db_user=timewarp --data db_name=timewarp" in output
    assert data_stack_state(test_instance) == before
    assert test_instance.get(f"/api/events/{row['id']}/") == (200, row)


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=onehost-test",
                           "-c", "user.email=test@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def app_from_a_git_repo(deployer, test_instance, deployed, tmp_path):
    """An image built by `onehost build-app` from a git repository of its own; (image, HEAD).
    The session's release is deployed back afterwards."""
    repo = tmp_path / "app"
    repo.mkdir()
    (repo / "Dockerfile").write_text(f"FROM {APP_IMAGE}\nLABEL org.onehost.test=commit\n")
    git(repo, "init", "--quiet")
    git(repo, "add", "Dockerfile")
    git(repo, "commit", "--quiet", "--message", "the app")
    image = f"{APP_REPOSITORY}:test-commit"
    # No CA bundle: the image installs nothing, so no wheelhouse is needed; the legacy builder,
    # since this daemon has no BuildKit.
    environ = {key: value for key, value in os.environ.items() if key not in CA_BUNDLE_VARIABLES}
    onehost = str(Path(sys.executable).with_name("onehost"))
    subprocess.run([onehost, "build-app", "--context", str(repo), "--tag", image], check=True,
                   capture_output=True, cwd=REPO_ROOT, env={**environ, "DOCKER_BUILDKIT": "0"})
    yield image, git(repo, "rev-parse", "HEAD")
    deployer.run({"image": APP_IMAGE})
    test_instance.wait_for_health()


def test_the_release_records_the_apps_commit(deployer, test_instance, app_from_a_git_repo):
    image, head = app_from_a_git_repo
    deployer.run({"image": image})
    record = json.loads(test_instance.inner("cat", "/data/releases/current/release.json").stdout)
    assert (record["image"], record["git_commit"]) == (image, head)
    assert head != git(REPO_ROOT, "rev-parse", "HEAD")
