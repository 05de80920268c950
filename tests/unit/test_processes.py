"""Processes beside the web server (workers, beat) and their broker: settings, Procfile, builders."""

import runpy
from pathlib import Path

import pytest
from pyinfra.api.exceptions import DeployError

from deploy.settings import Settings
from onehost.commands import processes
from onehost.local import app_config, init
from tests.projects import startproject

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
GROUP_DATA = {key: value for key, value in runpy.run_path(str(REPO / "deploy" / "group_data" / "all.py")).items()
              if not key.startswith("_")}
CELERY = {"worker": "celery -A proj worker -l info", "beat": "celery -A proj beat -l info"}


def section(**values):
    return Settings.from_values({**GROUP_DATA, **values}).processes


# --------------------------------------------------------------------------- settings

def test_by_default_no_process_runs_and_there_is_no_broker():
    defaults = section()
    assert dict(defaults.processes) == {}
    assert (defaults.broker, defaults.stop_grace_seconds, defaults.broker_maxmemory) == (None, 60, "64mb")


def test_declared_processes_and_the_broker_are_read():
    read = section(processes=CELERY, broker="valkey", process_stop_grace_seconds="90")
    assert dict(read.processes) == CELERY
    assert (read.broker, read.stop_grace_seconds) == ("valkey", 90)


@pytest.mark.parametrize("values, message", [
    ({"processes": {"web": "gunicorn proj.wsgi"}}, "the web process is the app itself"),
    ({"processes": {"broker": "celery -A proj worker"}}, "`onehost logs broker` reads the broker log already"),
    ({"processes": {"Worker": "celery worker"}}, "'Worker' is not a process name"),
    ({"processes": {"1st": "celery worker"}}, "'1st' is not a process name"),
    ({"processes": {"worker": "  "}}, "processes.worker has no command"),
    ({"processes": {"worker": 'celery -A "proj worker'}}, "cannot be read as a command line"),
    ({"processes": "celery worker"}, "give a table of name = command"),
    ({"broker": "rabbitmq"}, "broker is 'rabbitmq': give broker = \"valkey\""),
    ({"broker": "valkey", "broker_maxmemory": "lots"}, "broker_maxmemory is 'lots'"),
    ({"process_stop_grace_seconds": "a minute"}, "process_stop_grace_seconds is 'a minute'"),
])
def test_a_bad_process_or_broker_setting_stops_the_deploy_naming_the_fix(values, message):
    with pytest.raises(DeployError, match=message.replace("(", r"\(")):
        section(**values)


def test_the_deploy_checks_the_processes_before_the_host_is_touched():
    with pytest.raises(DeployError, match="the web process is the app itself"):
        Settings.from_values({**GROUP_DATA, "tls": "off", "processes": {"web": "gunicorn"}}).check_deploy_inputs()


# --------------------------------------------------------------------------- Procfile

PROCFILE = """# what Heroku runs
web: gunicorn proj.wsgi --log-file -

release: python manage.py migrate
worker: celery -A proj worker -l info
   # the scheduler
beat:   celery -A proj beat -l info
"""


def test_a_procfile_gives_its_processes_besides_web_and_release():
    entries, release = processes.parse_procfile(PROCFILE)
    assert entries == CELERY
    assert release == "python manage.py migrate"


@pytest.mark.parametrize("text, message", [
    ("worker celery -A proj worker\n", "Procfile:1: expected `name: command`"),
    ("\nworker:\n", "Procfile:2: expected `name: command`"),
    ("Worker: celery -A proj worker\n", "'Worker' is not a process name onehost takes"),
])
def test_a_procfile_line_that_is_no_entry_is_named_by_its_number(text, message):
    with pytest.raises(processes.ProcessError, match=message):
        processes.parse_procfile(text)


def test_init_writes_the_procfiles_processes_and_turns_the_broker_on(tmp_path, capsys):
    root = startproject(tmp_path / "shop", requirements="Django==5.2.19\ncelery==5.5.3\n")
    (root / "Procfile").write_text(PROCFILE)
    project = init.inspect_project(root)
    files = init.planned_files(project, "shop", ["api.example.com"], "shop", "none")
    config = app_config.parse(files[root.resolve() / "onehost.toml"], "onehost.toml")
    assert (config["processes"], config["broker"]) == (CELERY, "valkey")
    said = init.changes(project, files)
    assert any(line.startswith("Procfile: worker, beat written to onehost.toml's [processes]") for line in said)
    assert any("release (python manage.py migrate) is not run: the deploy runs `manage.py migrate`" in line
               for line in said)


def test_init_without_a_procfile_declares_no_process_and_no_broker(tmp_path):
    root = startproject(tmp_path / "shop")
    project = init.inspect_project(root)
    files = init.planned_files(project, "shop", ["api.example.com"], "shop", "none")
    config = app_config.parse(files[root.resolve() / "onehost.toml"], "onehost.toml")
    assert ("processes" not in config, config["broker"]) == (True, "off")
    assert not any(line.startswith("Procfile") for line in init.changes(project, files))


@pytest.mark.parametrize("commands, requirements, wanted", [
    ({"worker": "celery -A proj worker"}, [], True),
    ({"worker": "rq worker default"}, [], True),
    ({}, ["django", "redis"], True),
    ({"clock": "python manage.py clock"}, ["django"], False),
])
def test_a_broker_is_wanted_when_the_project_queues_tasks(commands, requirements, wanted):
    assert processes.wants_broker(commands, requirements) is wanted


def test_onehost_toml_gives_the_processes_and_the_broker_to_every_host():
    text = ('app_name = "shop"\nserver_names = ["shop.example.com"]\nimage = "shop"\nregistry = "none"\n'
            'broker = "valkey"\n[processes]\nworker = "celery -A proj worker -l info"\n')
    data = app_config.host_data(app_config.parse(text, "onehost.toml"), local=True)
    assert (data["processes"], data["broker"]) == ({"worker": "celery -A proj worker -l info"}, "valkey")


# --------------------------------------------------------------------------- builders

def test_a_process_starts_as_its_own_project_from_the_release_directory():
    assert processes.start("green", "worker", "/data/releases/v2-abc") == [
        "docker", "compose", "--project-name", "proc-green-worker",
        "--file", "/data/releases/v2-abc/processes.yaml",
        "--env-file", "/data/releases/v2-abc/processes/worker.env", "up", "--detach", "--remove-orphans"]


def test_a_process_stops_with_sigterm_and_the_grace_period_for_running_tasks():
    assert processes.stop("proc-blue-worker", 60) == [
        "docker", "compose", "--project-name", "proc-blue-worker", "down", "--timeout", "60"]


def test_the_hosts_process_containers_are_listed_by_their_label():
    assert processes.running_processes() == [
        "docker", "ps", "--all", "--filter", "label=onehost.process",
        "--format", '{{.Label "com.docker.compose.project"}} {{.State}}']


def test_a_process_runs_the_release_image_its_command_and_colour():
    assert processes.process_env("worker", CELERY["worker"], "green", "shop:id-0123456789ab", "onehost", 60) == {
        "APP_IMAGE": "shop:id-0123456789ab", "PROCESS_NAME": "worker", "PROCESS_COMMAND": CELERY["worker"],
        "COLOUR": "green", "NETWORK_NAME": "onehost", "STOP_GRACE_PERIOD": "60s"}


def test_the_old_beat_stops_before_the_new_starts_and_old_workers_after_the_new_run():
    running = {"proc-blue-worker": "running", "proc-blue-beat": "running", "data-postgres-1": "running"}
    assert processes.steps(CELERY, "green", running) == [
        ("stop", "proc-blue-beat"), ("start", "beat"), ("start", "worker"), ("stop", "proc-blue-worker")]


def test_a_process_no_longer_declared_stops_first():
    running = {"proc-blue-worker": "running", "proc-blue-clock": "running"}
    assert processes.steps({"worker": CELERY["worker"]}, "green", running) == [
        ("stop", "proc-blue-clock"), ("start", "worker"), ("stop", "proc-blue-worker")]


def test_a_rerun_on_the_same_colour_only_starts_what_is_declared():
    running = {"proc-green-worker": "running", "proc-green-beat": "running"}
    assert processes.steps(CELERY, "green", running) == [("start", "beat"), ("start", "worker")]


@pytest.mark.parametrize("command, scheduler", [
    ("celery -A proj beat -l info", True),
    ("celery -A proj worker -B", True),
    ("rqscheduler --url redis://broker:6379/0", True),
    ("celery -A proj worker -l info", False),
])
def test_schedulers_are_told_apart_from_workers(command, scheduler):
    assert processes.is_scheduler(command) is scheduler


def test_the_release_env_names_the_broker_for_celery_and_redis_clients():
    assert processes.broker_env("valkey") == {"CELERY_BROKER_URL": "redis://broker:6379/0",
                                              "REDIS_URL": "redis://broker:6379/0"}
    assert processes.broker_env(None) == {}


def test_the_broker_stack_gets_its_image_network_data_and_memory_cap():
    assert processes.broker_stack_env("onehost-base/broker:latest", "onehost", "/data", "64mb") == {
        "BROKER_IMAGE": "onehost-base/broker:latest", "NETWORK_NAME": "onehost", "DATA_DIR": "/data",
        "BROKER_MAXMEMORY": "64mb"}


def test_no_process_takes_a_name_onehost_logs_reads_itself():
    from onehost.commands import logs
    assert set(logs.KINDS) | {"broker"} == set(processes.LOG_NAMES)
