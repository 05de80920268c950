"""Zero-downtime releases on the test instance: switch under load, undo on failure, lock, rollback, prune.

Each test asks for the state it needs: the module's deploys that other tests build on (v2 under
load, the rollback under load, the two failed deploys) run once, as module fixtures, and keep
what they saw; per-test fixtures put v1 or v2 live by a rollback to it by name, only when it is
not live already. So any one test runs alone (`-k rollback`), and the whole module in file order
switches no more often than the tests themselves do. The session's release (test-v1) is live
again when the module ends. Every load is bounded (rate x seconds) and every wait has a deadline.
"""

import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass

import pytest

from onehost.commands import release
from onehost.local.instance import wait_until
from onehost.local.loadgen import LoadResult
from onehost.local.shell import CommandFailed, run
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import pyinfra_command
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY
from tests.host.held_request import HeldRequest, running
from tests.host.load import Load
from tests.host.test_deploy import changes_reported

# The session's own repository (see tests/host/conftest.py); the tags name the releases.
V2, UNHEALTHY, BAD_MIGRATION, FAILS_THROUGH_NGINX = (
    f"{APP_REPOSITORY}:{tag}" for tag in ("test-v2", "test-unhealthy", "test-badmigration", "test-failsvianginx"))
# The example app, except that /health/ fails for curl through nginx (nginx adds X-Forwarded-For:
# nginx/templates/proxy.inc.j2): the switch's own check on the socket passes, its check through
# nginx after the switch fails, and the load (Python's http.client) is served all along.
FAILS_THROUGH_NGINX_APP = '''from timewarp.wsgi import application as django_application


def application(environ, start_response):
    if (environ.get("PATH_INFO") == "/health/" and "HTTP_X_FORWARDED_FOR" in environ
            and environ.get("HTTP_USER_AGENT", "").startswith("curl/")):
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"failing the check through nginx on purpose\\n"]
    return django_application(environ, start_response)
'''
FAILING_MIGRATION = '''from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]
    operations = [migrations.RunPython(fail)]
'''
# Short enough to keep the suite quick, long enough for a healthy app on a busy CI machine.
QUICK_FAILURE = {"health_timeout_seconds": "20"}
LONG_LIVED = ("edge-nginx-1", "data-postgres-1")


def build(tag: str, dockerfile: str, context, files: dict | None = None) -> None:
    """A variant of the test image (legacy builder: this daemon has no BuildKit)."""
    for name, text in (files or {}).items():
        (context / name).write_text(text)
    (context / "Dockerfile").write_text(dockerfile)
    run(["docker", "build", "--quiet", "--tag", tag, str(context)], capture=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"})


def serving(instance) -> str:
    return instance.get("/health/")[1]["version"]


def started_at(instance, container: str) -> str:
    return instance.inner("docker", "inspect", "--format", "{{.State.StartedAt}}", container).stdout


def output_of(result) -> str:
    return result.stdout + result.stderr


def release_at(instance, link: str) -> str:
    """The release id `current` or `previous` points at ('' when the link is absent)."""
    return instance.readlink(f"/data/releases/{link}").rsplit("/", 1)[-1]


def rollback_to(deployer, release_id: str) -> subprocess.CompletedProcess:
    return deployer.run({"release": release_id}, deploy_file="rollback.py")


def put_live(deployer, instance, wanted: str, previous: str | None = None) -> None:
    """`wanted` live (and `previous` behind it, when given), by rollbacks to them by name; nothing
    runs when the host is there already."""
    current = release_at(instance, "current")
    if current == wanted and previous in (None, release_at(instance, "previous")):
        return
    if previous and current != previous:
        rollback_to(deployer, previous)
    rollback_to(deployer, wanted)


@pytest.fixture(scope="module")
def variants(tmp_path_factory, test_instance):
    """v2 (a new image id), one that never turns healthy, one whose migration fails."""
    build(V2, f"FROM {APP_IMAGE}\nLABEL org.onehost.test=v2\n", tmp_path_factory.mktemp("v2"))
    build(UNHEALTHY, f'FROM {APP_IMAGE}\nCMD ["python", "-m", "http.server", "8000"]\n',
          tmp_path_factory.mktemp("unhealthy"))
    build(BAD_MIGRATION, f"FROM {APP_IMAGE}\nCOPY 0002_fails.py /app/events/migrations/\n",
          tmp_path_factory.mktemp("badmigration"), {"0002_fails.py": FAILING_MIGRATION})
    build(FAILS_THROUGH_NGINX, f"FROM {APP_IMAGE}\nCOPY failsvianginx.py /app/\n"
          'CMD ["gunicorn", "--config", "gunicorn.conf.py", "failsvianginx:application"]\n',
          tmp_path_factory.mktemp("failsvianginx"), {"failsvianginx.py": FAILS_THROUGH_NGINX_APP})


@pytest.fixture(scope="module")
def v1(deployer, test_instance, deployed, variants) -> str:
    """The session's release (test-v1): live when the module starts, and again when it ends."""
    assert serving(test_instance) == "test-v1"
    v1_release = release_at(test_instance, "current")
    yield v1_release
    if release_at(test_instance, "current") != v1_release:
        deployer.run({"image": APP_IMAGE})   # the rest of the session expects v1 live


@dataclass
class Switched:
    """A deploy or rollback run under load, and what the host looked like around it."""
    result: subprocess.CompletedProcess
    load: LoadResult
    release: str                     # the release live after it
    previous: str                    # where `previous` points after it
    replaced_container: str          # the colour's container live before it
    long_lived_before: dict[str, str]
    long_lived_after: dict[str, str]
    replaced_container_gone: bool    # the replaced colour's container went (retired in the background)


def container_goes(instance, container: str, timeout: float = 90) -> bool:
    """The container is removed within `timeout` (the drain, 30 s, and its removal): a switch
    retires the old colour in the background, after the deploy has returned."""
    def gone():
        return instance.inner("docker", "inspect", container, check=False).returncode != 0
    try:
        return wait_until(gone, f"{container} to be removed", timeout)
    except CommandFailed:
        return False


def under_load(deployer, instance, version: str, *args, **kwargs) -> Switched:
    """Run deployer.run(*args, **kwargs) under load until `version` answers."""
    long_lived = {name: started_at(instance, name) for name in LONG_LIVED}
    replaced = instance.live_container()
    with Load(instance) as load:
        result = deployer.run(*args, settle=False, **kwargs)   # the replaced colour's retire is checked below
        load.until_version(version)
    return Switched(result=result, load=load.result, release=release_at(instance, "current"),
                    previous=release_at(instance, "previous"), replaced_container=replaced,
                    long_lived_before=long_lived,
                    long_lived_after={name: started_at(instance, name) for name in LONG_LIVED},
                    replaced_container_gone=container_goes(instance, replaced))


@pytest.fixture(scope="module")
def v2_deployed(deployer, test_instance, v1) -> Switched:
    """v1 live, then v2 deployed under load: the deploy the tests below build on."""
    put_live(deployer, test_instance, v1)
    return under_load(deployer, test_instance, "test-v2", {"image": V2})


@pytest.fixture(scope="module")
def v2(v2_deployed) -> str:
    return v2_deployed.release


@pytest.fixture(scope="module")
def rolled_back(deployer, test_instance, v1, v2) -> Switched:
    """v2 live with v1 behind it, then a rollback to `previous` under load."""
    put_live(deployer, test_instance, v2, previous=v1)
    return under_load(deployer, test_instance, "test-v1", {}, deploy_file="rollback.py")


@pytest.fixture
def v1_live(deployer, test_instance, v1, v2) -> str:
    """v1 live, v2 on the host too."""
    put_live(deployer, test_instance, v1)
    return v1


@pytest.fixture
def v2_live(deployer, test_instance, v1, v2) -> str:
    """v2 live, with v1 behind it."""
    put_live(deployer, test_instance, v2, previous=v1)
    return v2


@dataclass
class Failed:
    """A deploy that failed under load with v2 live, and what the host looked like right after."""
    result: subprocess.CompletedProcess
    load: LoadResult
    live_before: str
    live_after: str
    lock_left: bool
    history: dict                    # the history's last entry


def failing_deploy(deployer, instance, image: str) -> Failed:
    live_before = release_at(instance, "current")
    with Load(instance) as load:
        result = deployer.run({"image": image, **QUICK_FAILURE}, check=False)
    return Failed(result=result, load=load.result, live_before=live_before,
                  live_after=release_at(instance, "current"),
                  lock_left=instance.inner("ls", "/data/deploy.lock", check=False).returncode == 0,
                  history=json.loads(instance.inner("tail", "-n", "1", "/data/history.jsonl").stdout))


@pytest.fixture(scope="module")
def unhealthy_deploy(deployer, test_instance, v1, v2) -> Failed:
    put_live(deployer, test_instance, v2, previous=v1)
    return failing_deploy(deployer, test_instance, UNHEALTHY)


@pytest.fixture(scope="module")
def failed_after_switch_deploy(deployer, test_instance, v1, v2) -> Failed:
    put_live(deployer, test_instance, v2, previous=v1)
    return failing_deploy(deployer, test_instance, FAILS_THROUGH_NGINX)


@dataclass
class FailedMigration:
    deploy: Failed
    event_id: int                    # a row written just before the deploy
    rows_before: str
    rows_after: str


@pytest.fixture(scope="module")
def bad_migration_deploy(deployer, test_instance, v1, v2) -> FailedMigration:
    put_live(deployer, test_instance, v2, previous=v1)
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "Before the bad migration", "happened_at": "2000-01-01T00:00:00Z"})
    assert status == 201, created
    rows_before = test_instance.psql("SELECT count(*) FROM events_event")
    deploy = failing_deploy(deployer, test_instance, BAD_MIGRATION)
    return FailedMigration(deploy=deploy, event_id=created["id"], rows_before=rows_before,
                           rows_after=test_instance.psql("SELECT count(*) FROM events_event"))


def test_deploy_under_load_drops_nothing_and_switches_versions(v1, v2_deployed):
    deployed = v2_deployed
    assert deployed.load.failed == 0, deployed.load.summary()
    assert deployed.load.versions == ["test-v1", "test-v2"], deployed.load.summary()
    assert deployed.load.sent >= 100
    assert deployed.release.startswith("test-v2-") and deployed.previous == v1
    # The edge and data stacks kept running; the old colour is gone.
    assert deployed.long_lived_after == deployed.long_lived_before
    assert deployed.replaced_container_gone
    for phase in ("start ", "check /health/ on", "migrations", "switch nginx to",
                  "check /health/ through nginx", "retire "):
        assert f": {phase}" in output_of(deployed.result)


def test_rollback_under_load_drops_nothing(v1, v2, rolled_back):
    assert rolled_back.load.failed == 0, rolled_back.load.summary()
    assert rolled_back.load.versions == ["test-v2", "test-v1"], rolled_back.load.summary()
    assert (rolled_back.release, rolled_back.previous) == (v1, v2)
    assert "migrate --noinput" not in output_of(rolled_back.result)


def test_rollback_to_a_named_release(deployer, test_instance, v1_live, v2):
    result = rollback_to(deployer, v2)
    assert serving(test_instance) == "test-v2"
    assert (release_at(test_instance, "current"), release_at(test_instance, "previous")) == (v2, v1_live)
    assert "migrate --noinput" not in output_of(result)


def test_a_release_that_never_turns_healthy_is_undone(v2, unhealthy_deploy):
    failed = unhealthy_deploy
    assert failed.result.returncode != 0
    assert "not healthy within 20 s" in output_of(failed.result)
    assert f"{v2} (" in output_of(failed.result) and "is still serving" in output_of(failed.result)
    assert failed.load.failed == 0 and failed.load.versions == ["test-v2"], failed.load.summary()
    assert failed.live_before == failed.live_after == v2
    assert not failed.lock_left
    assert failed.history["result"] == "failed"


def test_a_release_failing_the_check_through_nginx_is_switched_back(v2, failed_after_switch_deploy):
    failed = failed_after_switch_deploy
    output = output_of(failed.result)
    assert failed.result.returncode != 0
    assert "failed the check through nginx after the switch" in output, output
    assert f"switched back: {v2} (" in output and "is still serving" in output
    assert failed.load.failed == 0, failed.load.summary()
    assert failed.load.versions[-1] == "test-v2", failed.load.summary()
    assert failed.live_before == failed.live_after == v2
    assert not failed.lock_left
    assert failed.history["result"] == "failed"


def test_a_failing_migration_is_undone_and_its_dump_restores(test_instance, v2, bad_migration_deploy):
    failed = bad_migration_deploy.deploy
    assert failed.result.returncode != 0
    assert "failed at 'migrations'" in output_of(failed.result)
    assert "this migration fails on purpose" in output_of(failed.result)
    assert failed.load.failed == 0 and failed.load.versions == ["test-v2"], failed.load.summary()
    assert failed.live_before == failed.live_after == v2

    dump = failed.history["pre_migration_dump"]
    assert failed.history["result"] == "failed" and dump in output_of(failed.result)
    # The dump restores into a scratch database, with the row written just before.
    restore = (f"docker exec -i data-postgres-1 sh -c 'dropdb --if-exists -U timewarp restored && "
               f"createdb -U timewarp restored && pg_restore -U timewarp --dbname restored' < {dump}")
    test_instance.inner("sh", "-c", restore)
    restored_rows = test_instance.inner(
        "docker", "exec", "data-postgres-1", "psql", "-U", "timewarp", "-d", "restored", "-tAc",
        f"SELECT count(*) FROM events_event WHERE id = {bad_migration_deploy.event_id}").stdout.strip()
    assert restored_rows == "1"
    # The failed migration lost nothing in the live database.
    assert bad_migration_deploy.rows_after == bad_migration_deploy.rows_before
    test_instance.inner("docker", "exec", "data-postgres-1", "dropdb", "-U", "timewarp", "restored")


def start_deploy(deployer, data):
    return subprocess.Popen(pyinfra_command("deploy.py", data), cwd=REPO_ROOT, env=deployer.environ,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for_lock(test_instance):
    wait_until(lambda: test_instance.inner("test", "-f", "/data/deploy.lock/owner.json",
                                           check=False).returncode == 0, "the deploy lock", 120)


def test_a_second_deploy_at_once_is_refused_naming_the_first(deployer, test_instance, v2_live):
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
    assert release_at(test_instance, "current") == v2_live
    assert serving(test_instance) == "test-v2"


def test_a_killed_deploy_leaves_a_stale_lock_the_next_deploy_breaks(deployer, test_instance, v2_live):
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


def retire_waits(instance) -> str:
    """The `flock --wait` of a start waiting for a colour's retire, as `ps` shows it ('' when none)."""
    return instance.inner("pgrep", "-af", "flock --wait .*onehost-retire", check=False).stdout.strip()


def test_a_deploy_right_after_another_waits_for_the_colour_still_being_retired(deployer, test_instance, v1_live):
    """v1's colour is still finishing a request when v2 goes live, so it is still being retired
    when the next deploy wants that colour back: that deploy waits for the retire, then goes on."""
    old = test_instance.live_container()
    held = HeldRequest(test_instance)
    try:
        first = deployer.run({"image": V2}, settle=False)
        assert "retire " in output_of(first) and serving(test_instance) == "test-v2"
        assert running(test_instance, old), "the retired colour stopped before its request ended"
        result = {}
        second = threading.Thread(target=lambda: result.update(run=deployer.run({"image": APP_IMAGE}, check=False)),
                                  daemon=True)
        second.start()
        waiting = wait_until(lambda: retire_waits(test_instance), "the next deploy to wait for the retire", 120)
        assert old.rsplit("-", 2)[0] in waiting     # app-<colour>: the colour it is about to start
        assert serving(test_instance) == "test-v2" and second.is_alive()
    finally:
        held.release()
    second.join(timeout=300)
    assert result["run"].returncode == 0, output_of(result["run"])[-3000:]
    assert serving(test_instance) == "test-v1"
    assert not retire_waits(test_instance)


RELEASE_STATE = "ls /data/releases; cat /data/stacks/edge/conf.d/upstream.inc; docker ps --format '{{.Names}}'"


def test_dry_run_prints_the_plan_and_changes_nothing(deployer, test_instance, v1_live):
    before = test_instance.inner("sh", "-c", RELEASE_STATE).stdout
    live = test_instance.live_container().split("-")[1]
    idle = "green" if live == "blue" else "blue"
    plan = output_of(deployer.run({"image": V2}, dry=True))
    assert "plan: deploy test-v2-" in plan and f"({V2}) on {idle}; {live} serves {v1_live};" in plan
    migrations = [line.strip() for line in plan.splitlines() if "migrations:" in line]
    assert migrations and migrations[0].endswith("migrations: none"), migrations or plan[-2000:]
    assert test_instance.inner("sh", "-c", RELEASE_STATE).stdout == before
    assert serving(test_instance) == "test-v1"


def host_image(reference: str) -> str:
    """The tag a shipped image carries on the host (pinned by its id)."""
    image_id = run(["docker", "image", "inspect", "--format", "{{.Id}}", reference],
                   capture=True).stdout.decode().strip()
    return f"{APP_REPOSITORY}:id-{image_id.removeprefix('sha256:')[:12]}"


def test_pruning_keeps_the_newest_and_never_current_or_previous(deployer, test_instance, unhealthy_deploy,
                                                                bad_migration_deploy, v1_live, v2):
    keep_one = {"keep_releases": "1"}
    first = deployer.run({"image": V2, **keep_one})
    assert "Remove release test-unhealthy-" in output_of(first)
    assert "Remove release test-badmigration-" in output_of(first)
    deployer.run({"image": APP_IMAGE, **keep_one})
    remaining = test_instance.inner("find", "/data/releases", "-mindepth", "1", "-maxdepth", "1",
                                    "-type", "d", "-printf", "%f\n").stdout.split()
    current, previous = release_at(test_instance, "current"), release_at(test_instance, "previous")
    # Newest one kept; current and previous always. (Named by tag: the two deploys above name
    # their releases after the images the tags point at now.)
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


def test_releases_command_lists_releases_and_history(deployer, test_instance, v2_deployed, rolled_back,
                                                     unhealthy_deploy):
    listing = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "onehost"), "releases", "--history", "50"],
                             env=deployer.environ, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    current = release_at(test_instance, "current")
    assert any(line.startswith(current) and "current" in line for line in listing.stdout.splitlines())
    for action, result in (("deploy", "ok"), ("rollback", "ok"), ("deploy", "failed")):
        assert any(f"  {action}  " in line and f"  {result}" in line
                   for line in listing.stdout.splitlines()), listing.stdout
