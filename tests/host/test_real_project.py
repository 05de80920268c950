"""Issue 19 end to end: a realistic Django project goes aboard with no hand edits.

One generated project (tests/projects.py `realistic_project`): a settings package with its own
production module (CORS, ATOMIC_REQUESTS), nested requirements with a psycopg2 source pin and a
gunicorn pin, a Procfile with a Celery worker and beat, an upload endpoint, the admin and a DRF
API, a dev-only app with its own migration, rows in SQLite and files in media/, one git commit.
It goes through `onehost init` and `onehost build-app` as a user runs them, a deploy to an
instance of its own, and the SQLite move with its media; nothing in the project is edited after.

The instance is the session's test instance name and ports (ONEHOST_TEST_*), reset for this
module, as tests/host/test_processes.py does: run the module alone. It ends with a restart of
the instance, and removes the instance and its images.
"""

import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import pytest

from onehost.cli import main
from onehost.local import instance
from onehost.local.shell import run
from onehost.paths import REPO_ROOT
from tests import projects
from tests.host import test_processes
from tests.host.browser import Browser
from tests.host.conftest import Deployer, side_instance_settings
from tests.host.fixtures import remove_session_images
from tests.host.load import Load
from tests.host.test_browser_csp import assert_rendered_with_everything_it_asked_for
from tests.host.test_media import PNG, fetch, uploaded
from tests.host.test_no_reload import assert_nothing_dropped

# Its own instance: the module resets and deploys its own project.
INSTANCE_ENV = side_instance_settings("bookshop", 300)
REPOSITORY = f"bookshop-{INSTANCE_ENV['ONEHOST_INSTANCE']}"
V1, V2 = "test-v1", "test-v2"
ORIGIN = "https://app.bookshop.example"        # CORS_ALLOWED_ORIGINS of tests/projects.py PRODUCTION
COVER = b"\x89PNG\r\n\x1a\n" + b"cover of the laptop's first book"
SAMPLE_SECONDS = 0.2


def in_config_package(text: str) -> str:
    """test_processes' pieces are written for a project package named `shop`; this one's is `config`."""
    return text.replace("shop.settings", "config.django.production").replace("shop", "config")


JOBS_APP = {"config/celery_app.py": in_config_package(test_processes.CELERY_APP),
            "jobs/models.py": test_processes.MODELS, "jobs/tasks.py": test_processes.TASKS,
            "jobs/views.py": in_config_package(test_processes.VIEWS)}


class Bookshop(test_processes.Workers):
    """The instance serving the project, the project, its commit and what the SQLite move printed."""

    commit: str
    first_move: subprocess.CompletedProcess
    move: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def bookshop(base_image_names, tmp_path_factory):
    root = projects.realistic_project(tmp_path_factory.mktemp("real") / "bookshop", JOBS_APP,
                                      in_config_package(test_processes.PROCFILE), {"uploads/cover.png": COVER})
    assert main(["init", str(root), "--app-name", "bookshop", "--domain", "api.bookshop.example",
                 "--image", REPOSITORY]) == 0
    commit = projects.commit_all(root)
    assert main(["build-app", "--context", str(root), "--tag", f"{REPOSITORY}:{V1}",
                 "--base-image", base_image_names["python"]]) == 0
    # v2: the same image under a second tag (one build for the module); the tag is the release's
    # version (APP_VERSION). `docker tag` names the same image id (docs.docker.com
    # reference/cli/docker/image/tag).
    run(["docker", "tag", f"{REPOSITORY}:{V1}", f"{REPOSITORY}:{V2}"], capture=True)
    environ = {**os.environ, **INSTANCE_ENV, "ONEHOST_APP_CONFIG": str(root / "onehost.toml")}
    config = instance.InstanceConfig.from_environment(environ)
    instance.reset(config)
    instance.up(config)
    deployer = Deployer(environ)
    deployer.run({"tag": V1})
    site = Bookshop(config, root, deployer)
    site.commit = commit
    # The move as init's next steps say, right after the first deploy, while the release's beat
    # already writes its rows (kept: the file has none in that table).
    move = {"sqlite": str(root / "db.sqlite3"), "media": str(root / "media")}
    site.move = site.first_move = deployer.run(move, deploy_file="import_sqlite.py", check=False)
    yield site
    if not os.environ.get("ONEHOST_KEEP_TEST_INSTANCE"):
        instance.reset(config)
        remove_session_images(REPOSITORY)


def test_init_left_the_project_as_its_authors_wrote_it(bookshop):
    """Everything init wrote is new; build-app and the deploys changed nothing the commit holds."""
    status = subprocess.run(["git", "-C", str(bookshop.root), "status", "--porcelain"],
                            capture_output=True, text=True, check=True, timeout=30).stdout
    assert status == ""


def test_the_sqlite_move_right_after_the_first_deploy_needs_no_replace_existing(bookshop):
    printed = bookshop.first_move.stdout + bookshop.first_move.stderr
    assert bookshop.first_move.returncode == 0, printed[-3000:]
    # Beat's rows, when it ticked before the move (it did in every run seen), are named and kept.
    assert "already holds rows" not in printed, printed[-3000:]


def test_the_sqlite_move_brought_the_rows_and_media_and_left_the_dev_app_out(bookshop):
    printed = bookshop.move.stdout + bookshop.move.stderr
    assert "media verified: 1 of 1 file(s) in /data/media, SHA-256 equal to the project's" in printed
    assert "this release does not install: devtools (" in printed, printed[-4000:]
    assert "tables no installed model uses: devtools_snippet" in printed, printed[-4000:]
    status, documents = bookshop.get("/api/documents/?format=json")
    assert status == 200, documents
    assert [document["id"] for document in documents] == [2]
    assert documents[0]["file"].endswith("/media/uploads/cover.png")
    status, _, body = fetch(bookshop, "/media/uploads/cover.png")
    assert (status, body) == (200, COVER)
    assert bookshop.get("/jobs/4/") == (200, {"result": "FROM SQLITE", "processed_by": "laptop"})


def preflight(site, origin: str) -> tuple[int, dict]:
    """A browser's CORS preflight for a POST from `origin` (Fetch standard, CORS-preflight request)."""
    request = urllib.request.Request(f"{site.config.url}/api/documents/", method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_cors_comes_from_the_projects_production_module(bookshop):
    # django-cors-headers answers a preflight itself (an empty 200), with the origin when it is in
    # CORS_ALLOWED_ORIGINS and, with CORS_ALLOW_CREDENTIALS, Access-Control-Allow-Credentials: true;
    # an origin not listed gets no Access-Control-Allow-Origin (adamchainz/django-cors-headers
    # src/corsheaders/middleware.py, CorsMiddleware.process_request and process_response).
    status, headers = preflight(bookshop, ORIGIN)
    assert status == 200, headers
    assert headers.get("access-control-allow-origin") == ORIGIN, headers
    assert headers.get("access-control-allow-credentials") == "true", headers
    status, headers = preflight(bookshop, "https://elsewhere.example")
    assert "access-control-allow-origin" not in {name.lower() for name in headers}, headers


def test_atomic_requests_come_from_the_projects_production_module(bookshop):
    text = f"undone {uuid.uuid4().hex[:8]}"
    status, _ = bookshop.request("POST", "/api/notes/fail/", {"text": text})
    assert status == 500
    # The view wrote a note before it failed: ATOMIC_REQUESTS wraps each view in one transaction,
    # rolled back when it raises (docs.djangoproject.com/en/5.2/topics/db/transactions/,
    # "Tying transactions to HTTP requests").
    assert bookshop.get(f"/api/notes/?text={urllib.request.quote(text)}") == (200, {"texts": []})


def test_a_celery_task_queued_through_the_api_runs_and_its_result_is_read_back(bookshop):
    assert bookshop.run_task()["processed_by"] == V1


def test_the_release_records_the_projects_commit(bookshop):
    listing = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "onehost"), "releases"],
                             env=bookshop.deployer.environ, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    current = bookshop.readlink("/data/releases/current").rsplit("/", 1)[-1]
    [line] = [line for line in listing.stdout.splitlines() if line.startswith(current)]
    assert bookshop.commit[:10] in line.split(), listing.stdout


@pytest.fixture(scope="module")
def browser():
    with Browser(timeout=30) as chromium:
        yield chromium


@pytest.mark.parametrize("path", ["/admin/login/", "/api/documents/"], ids=["admin", "browsable-api"])
def test_the_admin_and_the_browsable_api_render_with_no_csp_refusals(bookshop, browser, path):
    assert_rendered_with_everything_it_asked_for(browser.load(f"{bookshop.config.url}{path}"))


def test_an_upload_through_the_api_is_served_back_by_nginx(bookshop):
    url = uploaded(bookshop, ".png", PNG)
    status, headers, body = fetch(bookshop, url)
    assert (status, body, headers["Content-Type"]) == (200, PNG, "image/png")
    assert headers["X-Content-Type-Options"] == "nosniff"


@dataclass
class Switch:
    """A deploy or rollback under load, the running beat containers sampled while it ran, and
    the version of a task's worker right after."""
    load: object
    beats: list[list[str]]
    task_processed_by: str


def switch_under_load(site: Bookshop, version: str, data: dict, deploy_file: str = "deploy.py") -> Switch:
    beats: list[list[str]] = []
    switching = threading.Event()
    switching.set()

    def sample_beats():
        deadline = time.monotonic() + 600
        while switching.is_set() and time.monotonic() < deadline:
            beats.append(site.containers("onehost.process=beat"))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample_beats, daemon=True)
    with Load(site) as load:
        sampler.start()
        try:
            site.deployer.run(data, deploy_file=deploy_file)
            load.until_version(version)
        finally:
            switching.clear()
            sampler.join(timeout=30)
    return Switch(load=load.result, beats=beats, task_processed_by=site.run_task()["processed_by"])


@pytest.fixture(scope="module")
def switches(bookshop):
    """An upload on v1; v2 deployed under load; then a rollback to v1 under load."""
    upload = uploaded(bookshop, ".png", PNG)
    deploy = switch_under_load(bookshop, V2, {"tag": V2})
    rollback = switch_under_load(bookshop, V1, {}, deploy_file="rollback.py")
    return upload, deploy, rollback


def test_a_deploy_and_a_rollback_under_load_fail_nothing_while_workers_switch(switches):
    _, deploy, rollback = switches
    assert_nothing_dropped(deploy.load, [V1, V2])
    assert_nothing_dropped(rollback.load, [V2, V1])
    assert (deploy.task_processed_by, rollback.task_processed_by) == (V2, V1)


def test_beat_runs_once_through_the_deploy_and_the_rollback(bookshop, switches):
    # Two beats on one schedule send every task twice: "ensure only a single scheduler is running
    # for a schedule at a time" (docs.celeryq.dev userguide/periodic-tasks.html).
    for switch in switches[1:]:
        assert len(switch.beats) > 10, switch.beats
        assert max(len(sample) for sample in switch.beats) == 1, [s for s in switch.beats if len(s) != 1][:5]
    assert len(bookshop.containers("onehost.process=beat")) == 1


def test_an_upload_survives_a_deploy_and_an_instance_restart(bookshop, switches):
    """Last in the module: it restarts the instance."""
    upload = switches[0]
    status, _, body = fetch(bookshop, upload)          # after the deploy and the rollback
    assert (status, body) == (200, PNG)
    # docker restart stops (SIGRTMIN+3 to the instance's systemd, `--time` to finish) and starts
    # the same container: its volumes, /data among them, stay (docs.docker.com
    # reference/cli/docker/container/restart).
    subprocess.run(["docker", "restart", "--time", "30", bookshop.config.name],
                   capture_output=True, check=True, timeout=120)
    bookshop.wait_for_health(timeout=180)
    instance.wait_until(lambda: fetch(bookshop, upload)[0] == 200, f"{upload} after the restart", 60)
    assert fetch(bookshop, upload)[2] == PNG
