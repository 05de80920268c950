"""A release directory for the app, its migrations, and the app stack running it."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from deploy.tasks import stacks
from deploy.tasks.release_plan import COMPOSE_DIR, ReleasePlan
from onehost import compose_commands as commands

PROJECT = "app"


@deploy("App release")
def deploy_app_release(plan: ReleasePlan):
    files.directory(name="Create the releases directory", path=plan.releases, mode="755")
    files.directory(name=f"Create release {plan.id}", path=plan.directory, mode="755")
    changes = [
        stacks.put_text("Write the release compose file", (COMPOSE_DIR / "app.yaml").read_text(),
                        f"{plan.directory}/compose.yaml"),
        stacks.put_text("Write the release variables (image)", plan.release_env,
                        f"{plan.directory}/release.env"),
        stacks.put_text("Write the app environment", plan.app_env,
                        f"{plan.directory}/app.env", mode="600"),
    ]
    # release.json says when the release was first made; a re-run keeps it as it was.
    if not host.get_fact(File, path=f"{plan.directory}/release.json"):
        changes.append(stacks.put_text("Write release.json", plan.record,
                                       f"{plan.directory}/release.json"))

    compose_file, env_file = f"{plan.directory}/compose.yaml", f"{plan.directory}/release.env"
    switching = plan.replaces != plan.directory
    server.shell(
        name="Run database migrations",
        commands=[commands.shell(commands.run_once(PROJECT, compose_file, env_file, "app",
                                                   "python", "manage.py", "migrate", "--noinput"))],
        _if=lambda: switching or any(op.did_change() for op in changes),
    )
    return [stacks.converge(PROJECT, compose_file, env_file, ("app",), changes, also_when=switching)]


@deploy("Release links")
def point_links(plan: ReleasePlan):
    """current -> this release, previous -> the one it replaced (after the health check)."""
    if plan.replaces == plan.directory:
        host.noop(f"release {plan.id} is already current")
        return
    if plan.replaces:
        files.link(name="Point previous at the replaced release", path=f"{plan.releases}/previous",
                   target=plan.replaces)
    files.link(name=f"Point current at {plan.id}", path=f"{plan.releases}/current",
               target=plan.directory)
