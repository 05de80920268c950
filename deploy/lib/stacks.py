"""Compose stacks on the host: files in place, then `up --wait` only when something changed."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

from deploy.facts import ComposeServiceStates
from deploy.settings import settings
from onehost.commands import compose_commands as commands


def put_text(name: str, text: str, dest: str, mode: str = "644"):
    return files.put(name=name, src=StringIO(text), dest=dest, user="root", group="root", mode=mode)


def all_running(project: str, services: tuple[str, ...]) -> bool:
    states = host.get_fact(ComposeServiceStates, project=project)
    return all(states.get(service) == "running" for service in services)


def converge(project: str, compose_file: str, env_file: str, services: tuple[str, ...], changes):
    """Bring the stack up (waiting for health) when its files changed or it is not running."""
    running = all_running(project, services)
    return server.shell(
        name=f"Start the {project} stack and wait until it is healthy",
        commands=[commands.shell(commands.up(project, compose_file, env_file,
                                             settings().deploy.health_timeout_seconds))],
        _if=lambda: not running or any(op.did_change() for op in changes),
    )
