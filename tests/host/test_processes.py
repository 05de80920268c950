"""A project with a Celery worker and beat in its Procfile, deployed: tasks queued through the API
run on the live release's worker, through the broker on the host.

The project is made here as its authors would: `django-admin startproject shop`, an app whose
view queues a task and another that reads its result, a Celery app reading its broker from the
environment, a Procfile with web, release, worker and beat. `onehost init` writes the processes
into onehost.toml and turns the broker on (the project requires celery). It runs on the session's
test instance name and ports (ONEHOST_TEST_*), reset for this module: run it alone.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from onehost.cli import main
from onehost.local import app_image, instance
from onehost.local.shell import CommandFailed
from tests.host.conftest import Deployer, Instance, side_instance_settings
from tests.host.fixtures import remove_session_images

# Its own instance: the module resets and deploys its own project.
INSTANCE_ENV = side_instance_settings("workers", 200)
REPOSITORY = f"shop-workers-{INSTANCE_ENV['ONEHOST_INSTANCE']}"
DJANGO_ADMIN = str(Path(sys.executable).with_name("django-admin"))
# Celery with its Redis transport (kombu's `redis` extra wants redis<=5.2.1 in kombu 5.5).
REQUIREMENTS = "Django==5.2.19\nasgiref==3.13.0\nsqlparse==0.6.1\ncelery==5.5.3\nredis==5.2.1\n"
PROCFILE = """web: gunicorn shop.wsgi
release: python manage.py migrate
worker: celery -A shop.celery_app worker -l info --concurrency 1
beat: celery -A shop.celery_app beat -l info --schedule /tmp/celerybeat-schedule
"""
CELERY_APP = '''import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
app = Celery("shop")
# CELERY_BROKER_URL from the settings, which read it from the release env.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = {"tick": {"task": "jobs.tasks.tick", "schedule": 2.0}}
'''
MODELS = '''from django.db import models


class Job(models.Model):
    text = models.CharField(max_length=200)
    result = models.CharField(max_length=200, blank=True)
    processed_by = models.CharField(max_length=50, blank=True)


class Tick(models.Model):
    version = models.CharField(max_length=50)
    at = models.DateTimeField(auto_now_add=True)
'''
TASKS = '''import os

from celery import shared_task

from jobs.models import Job, Tick


@shared_task
def process(job_id):
    job = Job.objects.get(id=job_id)
    job.result = job.text.upper()
    job.processed_by = os.environ.get("APP_VERSION", "")
    job.save()


@shared_task
def tick():
    Tick.objects.create(version=os.environ.get("APP_VERSION", ""))
'''
VIEWS = '''import json

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from jobs.models import Job


@csrf_exempt
def queue(request):
    from shop.celery_app import app

    job = Job.objects.create(text=json.loads(request.body)["text"])
    # Sent once the row is committed: under ATOMIC_REQUESTS the view's transaction ends after it
    # returns, and a worker quicker than that would not find the job
    # (docs.djangoproject.com/en/5.2/topics/db/transactions/#performing-actions-after-commit).
    transaction.on_commit(lambda: app.send_task("jobs.tasks.process", args=[job.id]))
    return JsonResponse({"id": job.id}, status=202)


def result(request, job_id):
    job = Job.objects.get(id=job_id)
    return JsonResponse({"result": job.result, "processed_by": job.processed_by})
'''
SETTINGS_ADDITIONS = '''
import os  # noqa: E402

INSTALLED_APPS += ["jobs"]
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
'''


def make_project(root: Path) -> Path:
    root.mkdir()
    subprocess.run([DJANGO_ADMIN, "startproject", "shop", str(root)], check=True, timeout=60)
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings"}
    subprocess.run([sys.executable, "manage.py", "startapp", "jobs"], cwd=root, env=environ, check=True, timeout=60)
    (root / "jobs" / "models.py").write_text(MODELS)
    (root / "jobs" / "tasks.py").write_text(TASKS)
    (root / "jobs" / "views.py").write_text(VIEWS)
    (root / "shop" / "celery_app.py").write_text(CELERY_APP)
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS_ADDITIONS)
    urls = root / "shop" / "urls.py"
    urls.write_text(urls.read_text().replace(
        "urlpatterns = [", "from jobs import views\n\nurlpatterns = [\n"
                          "    path(\"jobs/\", views.queue),\n    path(\"jobs/<int:job_id>/\", views.result),"))
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "Procfile").write_text(PROCFILE)
    subprocess.run([sys.executable, "manage.py", "makemigrations", "jobs"], cwd=root, env=environ, check=True,
                   timeout=120, capture_output=True)
    return root


class Workers(Instance):
    def __init__(self, config, root: Path, deployer: Deployer):
        super().__init__(config)
        self.root, self.deployer = root, deployer

    def containers(self, label: str) -> list[str]:
        """Names of the running containers with the label (`onehost.process=beat`, ...)."""
        listed = self.inner("docker", "ps", "--filter", f"label={label}", "--filter", "status=running",
                            "--format", "{{.Names}}").stdout
        return sorted(listed.split())

    def inspect(self, container: str) -> dict:
        return json.loads(self.inner("docker", "inspect", container).stdout)[0]

    def run_task(self, timeout: float = 90) -> dict:
        """Queue a job through nginx, then poll its result until the worker has stored it."""
        text = f"job {uuid.uuid4().hex[:8]}"
        status, queued = self.request("POST", "/jobs/", {"text": text})
        assert status == 202, queued

        def done():
            status, body = self.get(f"/jobs/{queued['id']}/")
            return body if status == 200 and body["result"] else None
        try:
            answer = instance.wait_until(done, f"the worker's result for job {queued['id']}", timeout)
        except CommandFailed as failure:
            raise AssertionError(f"{failure}; the workers' last lines:\n{self.worker_logs()}") from None
        assert answer["result"] == text.upper()
        return answer

    def worker_logs(self) -> str:
        """The last lines of every worker container, running or not (what a timeout is shown with)."""
        listed = self.inner("docker", "ps", "--all", "--filter", "label=onehost.process=worker",
                            "--format", "{{.Names}} {{.Status}}").stdout.splitlines()
        return "\n".join(f"== {line}\n" + self.inner("sh", "-c", f"docker logs --tail 25 {line.split()[0]} 2>&1",
                                                       check=False).stdout for line in listed)


@pytest.fixture(scope="module")
def workers(base_image_names, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("workers") / "shop")
    assert main(["init", str(root), "--app-name", "shop", "--domain", "shop.example.com",
                 "--image", REPOSITORY]) == 0
    for tag in ("test-v1", "test-v2"):
        app_image.build(root, f"{REPOSITORY}:{tag}", base_image=base_image_names["python"])
    environ = {**os.environ, **INSTANCE_ENV, "ONEHOST_APP_CONFIG": str(root / "onehost.toml")}
    config = instance.InstanceConfig.from_environment(environ)
    instance.reset(config)
    instance.up(config)
    deployer = Deployer(environ)
    deployer.run({"tag": "test-v1"})
    yield Workers(config, root, deployer)
    if not os.environ.get("ONEHOST_KEEP_TEST_INSTANCE"):
        instance.reset(config)
        remove_session_images(REPOSITORY)


def test_init_wrote_the_procfiles_worker_and_beat_and_turned_the_broker_on(workers):
    text = (workers.root / "onehost.toml").read_text()
    assert 'broker = "valkey"' in text and "[processes]" in text


def test_a_task_queued_through_the_api_runs_on_the_releases_worker(workers):
    assert workers.run_task()["processed_by"] == "test-v1"
    assert workers.containers("onehost.process=worker") == [f"proc-{live_colour(workers)}-worker-process-1"]


def test_the_broker_answers_on_the_shared_network_and_publishes_no_port(workers):
    broker = workers.inspect("broker-broker-1")
    assert broker["State"]["Health"]["Status"] == "healthy"
    assert list(broker["NetworkSettings"]["Networks"]) == ["onehost"]
    assert not any(broker["NetworkSettings"]["Ports"].values()), broker["NetworkSettings"]["Ports"]
    assert not broker["HostConfig"]["PortBindings"]
    ping = ("import socket; s = socket.create_connection(('broker', 6379), timeout=3); "
            "s.sendall(b'PING\\r\\n'); print(s.recv(16).decode().strip())")
    assert workers.inner("docker", "exec", workers.live_container(), "python", "-c", ping).stdout.strip() == "+PONG"
    words = workers.inner("docker", "exec", "broker-broker-1", "valkey-cli", "config", "get", "maxmemory*",
                          ).stdout.split()
    config = dict(zip(words[::2], words[1::2], strict=True))
    assert (config["maxmemory"], config["maxmemory-policy"]) == (str(64 * 1024 * 1024), "noeviction")


def live_colour(workers) -> str:
    return workers.live_container().split("-")[1]


def test_a_second_deploy_moves_the_processes_with_one_beat_at_a_time_and_leaves_the_broker(workers):
    old_colour = live_colour(workers)
    broker_started = workers.inspect("broker-broker-1")["State"]["StartedAt"]
    beats: list[list[str]] = []
    deploying = threading.Event()
    deploying.set()

    def sample_beats():
        deadline = time.monotonic() + 600
        while deploying.is_set() and time.monotonic() < deadline:
            beats.append(workers.containers("onehost.process=beat"))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample_beats, daemon=True)
    sampler.start()
    try:
        workers.deployer.run({"tag": "test-v2"})
    finally:
        deploying.clear()
        sampler.join(timeout=30)
    new_colour = live_colour(workers)
    assert new_colour != old_colour
    assert len(beats) > 10, beats
    assert max(len(sample) for sample in beats) == 1, [sample for sample in beats if len(sample) > 1][:5]
    assert workers.containers("onehost.process=beat") == [f"proc-{new_colour}-beat-process-1"]
    assert workers.containers("onehost.process=worker") == [f"proc-{new_colour}-worker-process-1"]
    assert workers.run_task()["processed_by"] == "test-v2"
    # The broker stack was not touched by the app deploy.
    assert workers.inspect("broker-broker-1")["State"]["StartedAt"] == broker_started


def test_a_rerun_with_nothing_changed_restarts_no_process(workers):
    def started() -> dict[str, str]:
        return {name: workers.inspect(name)["State"]["StartedAt"] for name in workers.containers("onehost.process")}

    # The release id covers compose/app.yaml: when the working tree changes between two runs, the
    # second is a new release (and rightly moves the processes). Then one more run has nothing new.
    for _ in range(2):
        release, before = workers.readlink("/data/releases/current"), started()
        workers.deployer.run({"tag": "test-v2"})
        if workers.readlink("/data/releases/current") == release:
            break
    assert workers.readlink("/data/releases/current") == release
    after = started()
    assert after == before and len(after) == 2


def test_a_rollback_puts_the_previous_releases_processes_back(workers):
    workers.deployer.run({}, deploy_file="rollback.py")
    colour = live_colour(workers)
    assert workers.containers("onehost.process") == [f"proc-{colour}-beat-process-1",
                                                     f"proc-{colour}-worker-process-1"]
    assert workers.run_task()["processed_by"] == "test-v1"


def test_onehost_logs_reads_the_live_workers_log_and_the_brokers(workers, monkeypatch, capsys):
    """`onehost logs <process>` and `onehost logs broker`, in this process as a user's shell runs
    them: the names from onehost.toml, then (without it) from the host's containers."""
    def onehost_logs(*arguments: str, app_config: bool = True) -> tuple[int, list[str], str]:
        for name, value in INSTANCE_ENV.items():
            monkeypatch.setenv(name, value)
        if app_config:
            monkeypatch.setenv("ONEHOST_APP_CONFIG", str(workers.root / "onehost.toml"))
        else:
            monkeypatch.delenv("ONEHOST_APP_CONFIG", raising=False)
        code = main(["logs", *arguments])
        printed = capsys.readouterr()
        return code, printed.out.splitlines(), printed.err

    def docker_logs(container: str, lines: int) -> list[str]:
        return workers.inner("sh", "-c", f"docker logs --tail {lines} {container} 2>&1").stdout.splitlines()

    workers.run_task()
    worker = f"proc-{live_colour(workers)}-worker-process-1"
    # Celery's worker logs each task it ran: "Task <name>[<id>] succeeded in <seconds>s: <result>"
    # (celery/app/trace.py, LOG_SUCCESS).
    succeeded = re.compile(r"Task jobs\.tasks\.process\[[0-9a-f-]+\] succeeded in ")

    def worker_lines():
        code, lines, error = onehost_logs("worker", "--lines", "50")
        assert code == 0, error
        return lines if any(succeeded.search(line) for line in lines) else None
    lines = instance.wait_until(worker_lines, "the worker's line for the task it ran", 30)
    assert len(lines) <= 50     # a worker started by the last deploy may have written fewer
    # The live colour's worker: its lines are that container's (beat's ticks add lines meanwhile).
    assert set(lines) <= set(docker_logs(worker, 200))

    # Without onehost.toml the CLI asks the host which processes and broker it runs.
    def broker_lines():
        code, lines, error = onehost_logs("broker", "--lines", "5", app_config=False)
        assert code == 0, error
        return lines if lines == docker_logs("broker-broker-1", 5) else None
    lines = instance.wait_until(broker_lines, "the broker's last 5 lines", 30)
    # Valkey's log lines: "<pid>:<role> <day> <month> <year> <time> <level mark> <message>"
    # (valkey src/server.c, serverLogRaw).
    valkey_line = re.compile(r"\d+:[CMSX] \d+ \w{3} \d{4} [\d:.]+ [.*#-] ")
    assert len(lines) == 5 and all(valkey_line.match(line) for line in lines), lines

    code, lines, error = onehost_logs("nothing", app_config=False)
    assert (code, lines) == (1, [])
    assert error == ("error: no log named 'nothing': give one of app, edge, data, host, broker (when the host "
                     "runs one) or a process the host runs (beat, worker)\n")
