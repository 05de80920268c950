"""The example app deployed to the local instance, checked by behaviour."""

import json
import re
import subprocess

from onehost.local.instance import ssh_options
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY

RESULTS = re.compile(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)")


def changes_reported(pyinfra_output: str) -> int:
    """The 'Success' (changed) column of pyinfra's grand total; '-' means none."""
    match = RESULTS.search(pyinfra_output)
    assert match, f"no results table in pyinfra output:\n{pyinfra_output[-2000:]}"
    return 0 if match.group(2) == "-" else int(match.group(2))


def test_health_through_nginx(test_instance, deployed):
    status, body = test_instance.get("/health/")
    assert status == 200
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["version"] == "test-v1"


def test_api_round_trip_lands_in_postgresql(test_instance, deployed):
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "Moon landing", "description": "Apollo 11", "happened_at": "1969-07-20T20:17:40Z"})
    assert status == 201, created
    status, fetched = test_instance.get(f"/api/events/{created['id']}/")
    assert status == 200 and fetched["title"] == "Moon landing"
    assert test_instance.psql(f"SELECT title FROM events_event WHERE id = {created['id']}") == "Moon landing"


def test_rows_survive_an_app_restart(test_instance, deployed):
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "Berlin Wall falls", "happened_at": "1989-11-09T18:00:00Z"})
    assert status == 201, created
    test_instance.inner("docker", "restart", test_instance.live_container())
    test_instance.wait_for_health()
    status, fetched = test_instance.get(f"/api/events/{created['id']}/")
    assert status == 200 and fetched["title"] == "Berlin Wall falls"


def test_second_deploy_with_same_inputs_changes_nothing(deployer, test_instance, deployed):
    current = test_instance.readlink("/data/releases/current")
    result = deployer.run({"image": APP_IMAGE})
    output = result.stdout + result.stderr
    assert changes_reported(output) == 0, output[-3000:]
    assert test_instance.readlink("/data/releases/current") == current


def test_a_new_tag_of_the_live_image_reuses_what_the_host_holds(deployer, test_instance, deployed):
    """A new tag of the image serving now, with the same settings: its app.env is the serving
    release's, copied on the host; its static files are published and the media directory is
    its user's already, so neither step runs. It reports its own version all the same."""
    live = test_instance.readlink("/data/releases/current")
    retag = f"{APP_REPOSITORY}:test-retag"
    subprocess.run(["docker", "tag", APP_IMAGE, retag], check=True)
    try:
        result = deployer.run({"image": retag})
        output = result.stdout + result.stderr
        release = test_instance.readlink("/data/releases/current")
        assert release != live and release.rsplit("/", 1)[1].startswith("test-retag-")
        assert "Copy /app/staticfiles" not in output and "Give /data/media" not in output, output[-3000:]
        sums = test_instance.inner("sha1sum", f"{live}/app.env", f"{release}/app.env").stdout.split()
        assert sums[0] == sums[2]
        assert test_instance.inner("stat", "-c", "%a %U:%G", f"{release}/app.env").stdout.strip() == "600 root:root"
        for marker in ("static-published", "media-owned"):
            carried = test_instance.inner("cat", f"{live}/{marker}", f"{release}/{marker}").stdout.splitlines()
            assert len(carried) == 2 and carried[0] == carried[1] and carried[0], (marker, carried)
        status, body = test_instance.get("/health/")
        assert (status, body["version"]) == (200, "test-retag")
        assert test_instance.get("/static/staticfiles.json")[0] == 200
    finally:
        deployer.run({"image": APP_IMAGE})
        subprocess.run(["docker", "image", "rm", retag], capture_output=True)


def test_release_env_file_is_private(infra, test_instance):
    release = test_instance.readlink("/data/releases/current")
    env_file = infra.file(f"{release}/app.env")
    assert env_file.user == "root" and env_file.mode == 0o600


def test_release_record_names_the_image_that_runs(test_instance, deployed):
    release = test_instance.readlink("/data/releases/current")
    record = json.loads(test_instance.inner("cat", f"{release}/release.json").stdout)
    running = test_instance.inner("docker", "inspect", "--format", "{{.Image}}",
                                  test_instance.live_container()).stdout
    assert record["image"] == APP_IMAGE
    assert record["image_id"] == running.strip()


def test_postgres_is_not_reachable_from_the_host(test_instance, deployed):
    connect = "import socket; socket.create_connection(('127.0.0.1', 5432), timeout=3)"
    result = test_instance.inner("python3", "-c", connect, check=False)
    assert result.returncode != 0 and "Connection refused" in result.stderr
    # The app reaches it on the shared network: /health/ reports the database ok.
    assert test_instance.get("/health/")[1]["database"] == "ok"


def test_docker_and_sshd_run(infra):
    assert infra.service("docker").is_running
    assert infra.service("ssh").is_running
    assert infra.run("docker compose version").rc == 0


def test_admin_can_sudo(infra):
    assert infra.run("sudo -n true").rc == 0


def test_password_login_is_refused(test_instance):
    config = test_instance.config
    result = subprocess.run(
        ["ssh", "-p", str(config.ssh_port), "-o", f"UserKnownHostsFile={config.known_hosts}",
         "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
         "-o", "PreferredAuthentications=password,keyboard-interactive",
         "-o", "PubkeyAuthentication=no", "admin@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_key_login_works(test_instance):
    result = subprocess.run(["ssh", *ssh_options(test_instance.config), "admin@127.0.0.1", "whoami"],
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "admin"
