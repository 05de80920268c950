"""Zero-downtime releases on the test instance: switch under load, undo on failure, lock, rollback, prune.

The tests run in file order and share the instance: each starts from what the previous left
(v1, then v2 live) and the module ends with the session's release (test-v1) live again.
Every load is bounded (rate x seconds) and every wait has a deadline.
"""

import json
import os
import signal
import subprocess

import pytest

from onehost import release
from onehost.deploys import pyinfra_command
from onehost.instance import wait_until
from onehost.loadgen import LoadGenerator
from onehost.paths import REPO_ROOT
from onehost.shell import run
from tests.host.conftest import APP_IMAGE
from tests.host.test_deploy import changes_reported

V2, UNHEALTHY, BAD_MIGRATION = "timewarp:test-v2", "timewarp:test-unhealthy", "timewarp:test-badmigration"
FAILING_MIGRATION = '''from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]
    operations = [migrations.RunPython(fail)]
'''
# Short enough to keep the suite quick, long enough for a healthy app on a busy CI machine.
QUICK_FAILURE = {"health_timeout_seconds": "20"}


def build(tag: str, dockerfile: str, context, files: dict | None = None) -> None:
    """A variant of the test image (legacy builder: this daemon has no BuildKit)."""
    for name, text in (files or {}).items():
        (context / name).write_text(text)
    (context / "Dockerfile").write_text(dockerfile)
    run(["docker", "build", "--quiet", "--tag", tag, str(context)], capture=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"})


@pytest.fixture(scope="module")
def variants(tmp_path_factory, test_instance):
    """v2 (a new image id), one that never turns healthy, one whose migration fails."""
    build(V2, f"FROM {APP_IMAGE}\nLABEL org.onehost.test=v2\n", tmp_path_factory.mktemp("v2"))
    build(UNHEALTHY, f'FROM {APP_IMAGE}\nCMD ["python", "-m", "http.server", "8000"]\n',
          tmp_path_factory.mktemp("unhealthy"))
    build(BAD_MIGRATION, f"FROM {APP_IMAGE}\nCOPY 0002_fails.py /app/events/migrations/\n",
          tmp_path_factory.mktemp("badmigration"), {"0002_fails.py": FAILING_MIGRATION})


@pytest.fixture(scope="module")
def releases(deployer, test_instance, deployed, variants):
    yield
    deployer.run({"image": APP_IMAGE})   # the rest of the session expects v1 live


class Load:
    """A steady load through nginx: fresh connections and keep-alive clients, bounded."""

    def __init__(self, instance):
        self.instance = instance
        self.generator = LoadGenerator(f"{instance.config.url}/health/", rate=40, max_seconds=180,
                                       persistent_clients=4, timeout=10)

    def __enter__(self):
        self.generator.start()
        wait_until(lambda: self.generator.snapshot()["ok"] >= 20, "the load's first answers", 30)
        return self

    def until_version(self, version: str) -> None:
        wait_until(lambda: self.generator.snapshot()["versions"][-1:] == [version],
                   f"responses from {version}", 30)

    def __exit__(self, *exc):
        self.result = self.generator.stop()
        return False


def serving(instance) -> str:
    return instance.get("/health/")[1]["version"]


def started_at(instance, container: str) -> str:
    return instance.inner("docker", "inspect", "--format", "{{.State.StartedAt}}", container).stdout


def output_of(result) -> str:
    return result.stdout + result.stderr


def test_deploy_under_load_drops_nothing_and_switches_versions(deployer, test_instance, releases):
    assert serving(test_instance) == "test-v1"
    long_lived = {name: started_at(test_instance, name) for name in ("edge-nginx-1", "data-postgres-1")}
    old_colour = test_instance.live_container()
    with Load(test_instance) as load:
        result = deployer.run({"image": V2})
        load.until_version("test-v2")
    assert load.result.failed == 0, load.result.summary()
    assert load.result.versions == ["test-v1", "test-v2"], load.result.summary()
    assert load.result.sent >= 100
    # The edge and data stacks kept running; the old colour is gone.
    assert {name: started_at(test_instance, name) for name in long_lived} == long_lived
    assert test_instance.live_container() != old_colour
    assert test_instance.inner("docker", "inspect", old_colour, check=False).returncode != 0
    for phase in ("start ", "check /health/ on", "migrations", "switch nginx to",
                  "check /health/ through nginx", "drain and stop"):
        assert f": {phase}" in output_of(result)


def test_rollback_under_load_drops_nothing(deployer, test_instance, releases):
    v2_release = test_instance.readlink("/data/releases/current")
    with Load(test_instance) as load:
        result = deployer.run({}, deploy_file="rollback.py")
        load.until_version("test-v1")
    assert load.result.failed == 0, load.result.summary()
    assert load.result.versions == ["test-v2", "test-v1"], load.result.summary()
    assert test_instance.readlink("/data/releases/previous") == v2_release
    assert "migrate --noinput" not in output_of(result)
    # And forward again to v2, by name, for the tests below.
    deployer.run({"release": v2_release.rsplit("/", 1)[-1]}, deploy_file="rollback.py")
    assert serving(test_instance) == "test-v2"


def test_a_release_that_never_turns_healthy_is_undone(deployer, test_instance, releases):
    current = test_instance.readlink("/data/releases/current")
    with Load(test_instance) as load:
        result = deployer.run({"image": UNHEALTHY, **QUICK_FAILURE}, check=False)
    assert result.returncode != 0
    assert "not healthy within 20 s" in output_of(result)
    assert f"{current.rsplit('/', 1)[-1]} (" in output_of(result)
    assert "is still serving" in output_of(result)
    assert load.result.failed == 0 and load.result.versions == ["test-v2"], load.result.summary()
    assert test_instance.readlink("/data/releases/current") == current
    assert test_instance.inner("ls", "/data/deploy.lock", check=False).returncode != 0


def test_a_failing_migration_is_undone_and_its_dump_restores(deployer, test_instance, releases):
    current = test_instance.readlink("/data/releases/current")
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "Before the bad migration", "happened_at": "2000-01-01T00:00:00Z"})
    assert status == 201
    live_rows = test_instance.psql("SELECT count(*) FROM events_event")
    with Load(test_instance) as load:
        result = deployer.run({"image": BAD_MIGRATION, **QUICK_FAILURE}, check=False)
    assert result.returncode != 0
    assert "failed at 'migrations'" in output_of(result)
    assert "this migration fails on purpose" in output_of(result)
    assert load.result.failed == 0 and load.result.versions == ["test-v2"], load.result.summary()
    assert test_instance.readlink("/data/releases/current") == current

    history = json.loads(test_instance.inner("tail", "-n", "1", "/data/history.jsonl").stdout)
    dump = history["pre_migration_dump"]
    assert history["result"] == "failed" and dump in output_of(result)
    # The dump restores into a scratch database, with the row written just before.
    restore = (f"docker exec -i data-postgres-1 sh -c 'dropdb --if-exists -U timewarp restored && "
               f"createdb -U timewarp restored && pg_restore -U timewarp --dbname restored' < {dump}")
    test_instance.inner("sh", "-c", restore)
    restored_rows = test_instance.inner(
        "docker", "exec", "data-postgres-1", "psql", "-U", "timewarp", "-d", "restored", "-tAc",
        f"SELECT count(*) FROM events_event WHERE id = {created['id']}").stdout.strip()
    assert restored_rows == "1"
    # The failed migration lost nothing in the live database.
    assert test_instance.psql("SELECT count(*) FROM events_event") == live_rows
    test_instance.inner("docker", "exec", "data-postgres-1", "dropdb", "-U", "timewarp", "restored")


def start_deploy(deployer, data):
    return subprocess.Popen(pyinfra_command("deploy.py", data), cwd=REPO_ROOT, env=deployer.environ,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for_lock(test_instance):
    wait_until(lambda: test_instance.inner("test", "-f", "/data/deploy.lock/owner.json",
                                           check=False).returncode == 0, "the deploy lock", 120)


def test_a_second_deploy_at_once_is_refused_naming_the_first(deployer, test_instance, releases):
    current = test_instance.readlink("/data/releases/current")
    first = start_deploy(deployer, {"image": UNHEALTHY, **QUICK_FAILURE})
    try:
        wait_for_lock(test_instance)
        second = deployer.run({"image": V2}, check=False)
        assert second.returncode != 0
        owner = json.loads(test_instance.inner("cat", "/data/deploy.lock/owner.json").stdout)
        assert (f"another deploy holds /data/deploy.lock: {owner['who']} from {owner['from']} "
                f"(pid {owner['pid']}") in output_of(second)
    finally:
        first.communicate(timeout=300)
    assert first.returncode != 0
    assert test_instance.readlink("/data/releases/current") == current
    assert serving(test_instance) == "test-v2"


def test_a_killed_deploy_leaves_a_stale_lock_the_next_deploy_breaks(deployer, test_instance, releases):
    killed = start_deploy(deployer, {"image": UNHEALTHY, **QUICK_FAILURE})
    try:
        wait_for_lock(test_instance)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=60)
    assert test_instance.inner("test", "-d", "/data/deploy.lock", check=False).returncode == 0
    assert serving(test_instance) == "test-v2"
    refused = deployer.run({"image": V2}, check=False)
    assert refused.returncode != 0 and "another deploy holds /data/deploy.lock" in output_of(refused)

    # Once the lock is a second old, a 1 s TTL makes it stale. The recovery deploys v1 (v2 is
    # live already, and a deploy that switches nothing leaves the lock alone).
    wait_until(lambda: int(test_instance.inner(
        "sh", "-c", "echo $(( $(date +%s) - $(stat -c %Y /data/deploy.lock) ))").stdout) >= 1,
        "the lock to age", 10)
    recovered = deployer.run({"image": APP_IMAGE, "lock_ttl_seconds": "1"})
    assert "warning: breaking the deploy lock (stale) held by" in output_of(recovered)
    assert serving(test_instance) == "test-v1"
    assert test_instance.inner("test", "-d", "/data/deploy.lock", check=False).returncode != 0


RELEASE_STATE = "ls /data/releases; cat /data/stacks/edge/conf.d/upstream.inc; docker ps --format '{{.Names}}'"


def test_dry_run_prints_the_plan_and_changes_nothing(deployer, test_instance, releases):
    before = test_instance.inner("sh", "-c", RELEASE_STATE).stdout
    live = test_instance.live_container().split("-")[1]
    idle = "green" if live == "blue" else "blue"
    plan = output_of(deployer.run({"image": V2}, dry=True))
    assert "plan: deploy test-v2-" in plan and f"({V2}) on {idle}; {live} serves test-v1-" in plan
    assert "migrations: none" in plan
    assert test_instance.inner("sh", "-c", RELEASE_STATE).stdout == before
    assert serving(test_instance) == "test-v1"


def host_image(reference: str) -> str:
    """The tag a shipped image carries on the host (pinned by its id)."""
    image_id = run(["docker", "image", "inspect", "--format", "{{.Id}}", reference],
                   capture=True).stdout.decode().strip()
    return f"timewarp:id-{image_id.removeprefix('sha256:')[:12]}"


def test_pruning_keeps_the_newest_and_never_current_or_previous(deployer, test_instance, releases):
    keep_one = {"keep_releases": "1"}
    first = deployer.run({"image": V2, **keep_one})
    assert "Remove release test-unhealthy-" in output_of(first)
    assert "Remove release test-badmigration-" in output_of(first)
    deployer.run({"image": APP_IMAGE, **keep_one})
    remaining = test_instance.inner("find", "/data/releases", "-mindepth", "1", "-maxdepth", "1",
                                    "-type", "d", "-printf", "%f\n").stdout.split()
    current = test_instance.readlink("/data/releases/current").rsplit("/", 1)[-1]
    previous = test_instance.readlink("/data/releases/previous").rsplit("/", 1)[-1]
    # Newest one kept; current and previous always.
    assert sorted(remaining) == sorted([current, previous])
    assert current.startswith("test-v1-") and previous.startswith("test-v2-")
    images = test_instance.inner("docker", "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert host_image(APP_IMAGE) in images and host_image(V2) in images
    assert host_image(UNHEALTHY) not in images and host_image(BAD_MIGRATION) not in images
    # The archives kept on /data for a host that takes it over go with their images.
    archives = test_instance.inner("ls", "/data/images").stdout.split()
    assert release.shipped_archive(host_image(APP_IMAGE)) in archives
    assert release.shipped_archive(host_image(V2)) in archives
    assert release.shipped_archive(host_image(UNHEALTHY)) not in archives
    # A re-run with the same inputs changes nothing.
    again = deployer.run({"image": APP_IMAGE, **keep_one})
    assert changes_reported(output_of(again)) == 0, output_of(again)[-3000:]


def test_releases_command_lists_releases_and_history(deployer, test_instance, releases):
    listing = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "onehost"), "releases", "--history", "50"],
                             env=deployer.environ, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    current = test_instance.readlink("/data/releases/current").rsplit("/", 1)[-1]
    assert any(line.startswith(current) and "current" in line for line in listing.stdout.splitlines())
    for action, result in (("deploy", "ok"), ("rollback", "ok"), ("deploy", "failed")):
        assert any(f"  {action}  " in line and f"  {result}" in line
                   for line in listing.stdout.splitlines()), listing.stdout
