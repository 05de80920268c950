"""A deploy that changes the data stack, whose new PostgreSQL does not come up healthy, is undone.

The fault is one a user can make: a PostgreSQL image of their own (--data postgres_image=...)
whose command sets a server setting to a value PostgreSQL refuses, so it stops at start with
`FATAL: invalid value for parameter "shared_buffers"` (postgresql.org/docs/17/config-setting.html:
memory settings take a number with an optional unit). The deploy must fail naming that, put the
previous compose file and env files back, and start the previous PostgreSQL again, healthy, with
the container configuration it had; the app keeps serving its rows.
"""

import json
import os
import subprocess

import pytest

from onehost.local.app_image import CA_BUNDLE_VARIABLES
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY

POSTGRES = "data-postgres-1"
BAD_SETTING = "shared_buffers=lots"
# Bounds the failing `up --wait` (the default is 120 s); the previous stack needs a few seconds.
HEALTH_TIMEOUT = "45"
# What the deploy's data stack runs locally (onehost/remote/inventory.py LOCAL_IMAGES).
LOCAL_POSTGRES = "onehost-base/postgres:latest"


@pytest.fixture
def postgres_image_with_a_bad_setting(tmp_path):
    """A PostgreSQL image of the user's own that cannot start: an invalid shared_buffers."""
    (tmp_path / "Dockerfile").write_text(
        f'FROM {LOCAL_POSTGRES}\nCMD ["postgres", "-c", "{BAD_SETTING}"]\n')
    image = f"{APP_REPOSITORY}-postgres:test-bad-setting"
    # The legacy builder, since this daemon has no BuildKit; nothing is installed, so no CA bundle.
    environ = {key: value for key, value in os.environ.items() if key not in CA_BUNDLE_VARIABLES}
    subprocess.run(["docker", "build", "--quiet", "--tag", image, str(tmp_path)], check=True,
                   capture_output=True, env={**environ, "DOCKER_BUILDKIT": "0"})
    yield image
    subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True, check=False)


def postgres_container(test_instance) -> dict:
    """What makes PostgreSQL's container what it is: image, command, environment, compose's
    config hash; and its id and health."""
    inspected = json.loads(test_instance.inner("docker", "inspect", POSTGRES).stdout)[0]
    config = inspected["Config"]
    return {
        "id": inspected["Id"],
        "health": inspected["State"].get("Health", {}).get("Status"),
        "config": {"image": inspected["Image"], "cmd": config["Cmd"], "env": sorted(config["Env"]),
                   "config_hash": config["Labels"].get("com.docker.compose.config-hash")},
    }


def test_a_data_stack_that_cannot_become_healthy_is_undone(deployer, test_instance, deployed,
                                                           postgres_image_with_a_bad_setting):
    status, row = test_instance.request("POST", "/api/events/", {
        "title": "kept through a failed data stack change", "happened_at": "2024-01-01T00:00:00Z"})
    assert status == 201, row
    rows = test_instance.psql("SELECT count(*) FROM events_event")
    before = postgres_container(test_instance)
    assert before["health"] == "healthy"

    result = deployer.run({"image": APP_IMAGE, "postgres_image": postgres_image_with_a_bad_setting,
                           "health_timeout_seconds": HEALTH_TIMEOUT}, check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    after = postgres_container(test_instance)
    assert (after["health"], after["config"]) == ("healthy", before["config"]), output[-3000:]
    assert 'invalid value for parameter "shared_buffers"' in output, output[-3000:]
    assert ("the new data stack did not become healthy within 45s (its last log lines are above). Undone: "
            "the previous compose.yaml stack.env postgres.env are back and the previous data stack is running "
            "and healthy") in output, output[-3000:]
    test_instance.wait_for_health()
    assert test_instance.get(f"/api/events/{row['id']}/") == (200, row)
    assert test_instance.psql("SELECT count(*) FROM events_event") == rows

    # The previous files are the ones in place: deploying the session's inputs again leaves
    # PostgreSQL's container alone (a changed file would recreate it).
    deployer.run({"image": APP_IMAGE})
    assert postgres_container(test_instance)["id"] == after["id"]
    assert test_instance.get(f"/api/events/{row['id']}/") == (200, row)
