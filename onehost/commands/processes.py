"""Processes beside the web server (Celery's worker and beat, an RQ worker), and the broker.

Each declared process runs from the live release's image with the release's app.env, as its own
compose project per colour (compose/processes.yaml): `proc-<colour>-<name>`. A deploy or
rollback starts the new colour's processes after the web switch and stops the other colour's:

- a worker of the new release starts before the old one stops (they may overlap: both read the
  same queue);
- a scheduler (Celery beat, rqscheduler) of the old release stops before the new one starts, so
  no task is ever scheduled twice.

The broker (Valkey, Redis-compatible) is a long-lived stack like `data`: project `broker`, on the
shared network only, never restarted by an app deploy.

Pure functions: the settings check them, deploy/tasks/processes.py and broker.py run them.
"""

from __future__ import annotations

import re
import shlex

from onehost.commands import compose_commands as commands
from onehost.commands.switch import COLOURS

# A process name: it names a compose project and a container, and reads in `onehost logs`.
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# The web process is the app's own (Gunicorn, the blue/green switch): not a process of this kind.
WEB = "web"
# Procfile entries run once per release (Heroku's release phase); the deploy migrates itself.
RELEASE = "release"
# `onehost logs` names these logs itself (onehost/commands/logs.py KINDS, and the broker).
LOG_NAMES = ("app", "edge", "data", "host", "broker")
PROJECT_PREFIX = "proc"
SERVICE = "process"
# Words of a command that run a scheduler: one of them at a time, or tasks run twice.
SCHEDULER_WORDS = ("beat", "rqscheduler")
BROKERS = ("valkey",)
BROKER_PROJECT = "broker"
BROKER_SERVICE = "broker"
BROKER_PORT = 6379
# What a container's process needs to find the broker (Celery reads CELERY_BROKER_URL through
# `app.config_from_object("django.conf:settings", namespace="CELERY")`, RQ and django-redis REDIS_URL).
BROKER_URL_KEYS = ("CELERY_BROKER_URL", "REDIS_URL")
# Valkey reads sizes as <number><unit> (valkey.conf: "1k => 1000 bytes ... 1gb => 1024*1024*1024").
MEMORY_SIZE = re.compile(r"^[1-9][0-9]*(kb|mb|gb|k|m|g)?$")
# In a Procfile a line is `<name>: <command>` (https://devcenter.heroku.com/articles/procfile).
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.*)$")
# What names a broker a project needs: Celery or RQ in the Procfile's commands, celery, rq or
# redis among its requirements.
BROKER_COMMANDS = ("celery", "rq", "rqworker", "rqscheduler")
BROKER_PACKAGES = ("celery", "rq", "redis", "django-rq")


class ProcessError(ValueError):
    """A declared process, a Procfile or a broker setting that cannot run; the message says the fix."""


def check_processes(processes) -> dict[str, str]:
    """{name: command} as onehost.toml's [processes] table or --data processes gives it, checked."""
    if processes is None:
        return {}
    if not isinstance(processes, dict):
        raise ProcessError(f"processes is {processes!r}: give a table of name = command, e.g. "
                           "[processes] worker = \"celery -A proj worker -l info\"")
    checked = {}
    for name, command in processes.items():
        if name == WEB:
            raise ProcessError("processes.web: the web process is the app itself (Gunicorn, the image's CMD); "
                               "remove it from [processes]")
        if name in LOG_NAMES:
            raise ProcessError(f"processes.{name}: `onehost logs {name}` reads the {name} log already, so a "
                               f"process of that name could not be read by name; rename it (e.g. {name}-worker)")
        if not isinstance(name, str) or not NAME.match(name):
            raise ProcessError(f"processes: {name!r} is not a process name: use lowercase letters, digits, "
                               "- and _, starting with a letter (e.g. worker, beat)")
        if not isinstance(command, str) or not command.strip():
            raise ProcessError(f"processes.{name} has no command: give the command line it runs, e.g. "
                               f"{name} = \"celery -A proj worker -l info\"")
        try:
            shlex.split(command)
        except ValueError as error:
            raise ProcessError(f"processes.{name}: {command!r} cannot be read as a command line ({error}): "
                               "close its quotes") from None
        checked[name] = command.strip()
    return checked


def check_broker(broker, maxmemory: str) -> str | None:
    """The broker's kind, None when off."""
    if broker in (None, False, "", "off", "none"):
        return None
    if broker not in BROKERS:
        raise ProcessError(f"broker is {broker!r}: give broker = \"valkey\" (a Redis-compatible server on "
                           "the host) or \"off\"")
    if not MEMORY_SIZE.match(str(maxmemory)):
        raise ProcessError(f"broker_maxmemory is {maxmemory!r}: give a size like 64mb")
    return broker


def is_scheduler(command: str) -> bool:
    """Celery beat (`celery -A proj beat`, or a worker with --beat/-B) and rqscheduler."""
    words = shlex.split(command)
    return any(word in SCHEDULER_WORDS or word in ("--beat", "-B") for word in words)


# --- Procfile -----------------------------------------------------------------------------

def parse_procfile(text: str) -> tuple[dict[str, str], str | None]:
    """({name: command} of the entries besides web and release, the release entry's command or None).
    Blank lines and # comments are skipped; a line that is no entry is refused with its number."""
    entries: dict[str, str] = {}
    release = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PROCFILE_LINE.match(stripped)
        if not match or not match.group(2).strip():
            raise ProcessError(f"Procfile:{number}: expected `name: command`, got {stripped[:60]!r}")
        name, command = match.group(1), match.group(2).strip()
        if name == WEB:
            continue
        if name == RELEASE:
            release = command
            continue
        if name.lower() != name or not NAME.match(name):
            raise ProcessError(f"Procfile:{number}: {name!r} is not a process name onehost takes (lowercase "
                               "letters, digits, - and _, starting with a letter): rename it")
        entries[name] = command
    return entries, release


def wants_broker(processes: dict[str, str], requirement_names: list[str]) -> bool:
    """The project queues tasks: its processes run celery or rq, or it requires celery, rq or redis."""
    words = {word for command in processes.values() for word in shlex.split(command)}
    return bool(words & set(BROKER_COMMANDS)) or bool(set(requirement_names) & set(BROKER_PACKAGES))


# --- names ---------------------------------------------------------------------------------

def project(colour: str, name: str) -> str:
    return f"{PROJECT_PREFIX}-{colour}-{name}"


def container(colour: str, name: str) -> str:
    """Compose names the first container of the service this way."""
    return f"{project(colour, name)}-{SERVICE}-1"


def broker_url(database: int = 0) -> str:
    """The broker's URL on the shared network: compose gives the service's name as a DNS alias."""
    return f"redis://{BROKER_SERVICE}:{BROKER_PORT}/{database}"


def broker_env(broker: str | None) -> dict[str, str]:
    """What the release env gains when the host runs a broker."""
    return {key: broker_url() for key in BROKER_URL_KEYS} if broker else {}


# --- what runs where -----------------------------------------------------------------------

def process_env(name: str, command: str, colour: str, image: str, network: str,
                stop_grace_seconds: int) -> dict[str, str]:
    """The variables compose/processes.yaml reads for one process of one colour."""
    return {"APP_IMAGE": image, "PROCESS_NAME": name, "PROCESS_COMMAND": command, "COLOUR": colour,
            "NETWORK_NAME": network, "STOP_GRACE_PERIOD": f"{stop_grace_seconds}s"}


def env_file(release_dir: str, name: str) -> str:
    return f"{release_dir}/processes/{name}.env"


def compose_file(release_dir: str) -> str:
    """Beside app.env, which compose/processes.yaml names relative to itself."""
    return f"{release_dir}/processes.yaml"


def start(colour: str, name: str, release_dir: str) -> list[str]:
    """Start (or update) one process; returns once its container runs (no health check: a worker
    has no port to probe)."""
    return commands.compose(project(colour, name), compose_file(release_dir), env_file(release_dir, name)) + [
        "up", "--detach", "--remove-orphans"]


def stop(project_name: str, stop_grace_seconds: int) -> list[str]:
    """Stop and remove a process project by name, whichever release it ran: SIGTERM, then
    `stop_grace_seconds` for running tasks (Celery's warm shutdown) before SIGKILL."""
    return ["docker", "compose", "--project-name", project_name, "down", "--timeout", str(stop_grace_seconds)]


def running_processes() -> list[str]:
    """One line per process container: `<project> <state>` (the ProcessProjects fact)."""
    return ["docker", "ps", "--all", "--filter", "label=onehost.process",
            "--format", '{{.Label "com.docker.compose.project"}} {{.State}}']


def steps(processes: dict[str, str], colour: str, running: dict[str, str]) -> list[tuple[str, str]]:
    """What a deploy does after the switch, in order: ("stop", project) or ("start", name).

    `running` is {project: state} of the process projects on the host. Schedulers of every other
    project stop first, then every process of `colour` starts, then the rest stops (old workers
    after the new ones run; processes no longer declared)."""
    wanted = {project(colour, name) for name in processes}
    others = sorted(name for name in running if name not in wanted and is_process_project(name))
    schedulers = {project(other, name) for other in COLOURS for name, command in processes.items()
                  if is_scheduler(command)}
    first = [("stop", name) for name in others if name in schedulers or _undeclared(name, processes)]
    last = [("stop", name) for name in others if ("stop", name) not in first]
    return first + [("start", name) for name in sorted(processes)] + last


def _undeclared(project_name: str, processes: dict[str, str]) -> bool:
    """A process no longer declared stops before the new ones start: it could be a scheduler
    under its old name."""
    return project_name.split("-", 2)[2] not in processes


def is_process_project(name: str) -> bool:
    parts = name.split("-", 2)
    return len(parts) == 3 and parts[0] == PROJECT_PREFIX and parts[1] in COLOURS and bool(NAME.match(parts[2]))


# --- the broker stack --------------------------------------------------------------------

def broker_stack_env(image: str, network: str, data_dir: str, maxmemory: str) -> dict[str, str]:
    """The variables compose/broker.yaml reads."""
    return {"BROKER_IMAGE": image, "NETWORK_NAME": network, "DATA_DIR": data_dir, "BROKER_MAXMEMORY": maxmemory}


def broker_ping(stack_dir: str) -> list[str]:
    return commands.compose(BROKER_PROJECT, f"{stack_dir}/compose.yaml", f"{stack_dir}/stack.env") + [
        "exec", "-T", BROKER_SERVICE, "valkey-cli", "ping"]


def procfile_notes(entries: dict[str, str], release: str | None, broker: bool) -> list[str]:
    """What `onehost init` says it did with a Procfile."""
    lines = []
    if entries:
        lines.append(f"Procfile: {', '.join(entries)} written to onehost.toml's [processes]: each runs from the "
                     "release's image and env beside the web server, and follows deploys and rollbacks")
    lines.append("Procfile: web is left to the image (its CMD runs Gunicorn behind nginx)")
    if release is not None:
        lines.append(f"Procfile: release ({release}) is not run: the deploy runs `manage.py migrate` itself before "
                     "the switch; run anything else once with `onehost run`")
    if broker:
        lines.append("Procfile: the project queues tasks (celery, rq or redis): onehost.toml turns the broker on "
                     f"(Valkey on the host, {', '.join(BROKER_URL_KEYS)}={broker_url()} in the release env)")
    return lines
