"""A release directory for the app: what the blue/green switch starts."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files

from deploy.lib import stacks
from deploy.lib.private_upload import private_file
from deploy.plans.release_plan import COMPOSE_DIR, ReleasePlan


@deploy("App release")
def write_release(plan: ReleasePlan):
    files.directory(name="Create the releases directory", path=plan.releases, mode="755")
    files.directory(name=f"Create release {plan.id}", path=plan.directory, mode="755")
    stacks.put_texts(name="Write the release compose file and variables (image)", texts={
        f"{plan.directory}/compose.yaml": (COMPOSE_DIR / "app.yaml").read_text(),
        f"{plan.directory}/release.env": plan.release_env,
    })
    private_file(name="Write the app environment", content=plan.app_env, dest=f"{plan.directory}/app.env")
    # release.json says when the release was first made; a re-run keeps it as it was.
    if not host.get_fact(File, path=f"{plan.directory}/release.json"):
        stacks.put_text("Write release.json", plan.record, f"{plan.directory}/release.json")
