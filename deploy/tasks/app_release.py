"""A release directory for the app: what the blue/green switch starts. The directory is made with
the others (deploy/tasks/host_layout.py); its files are compared and written by one operation."""

from pyinfra.api import deploy
from pyinfra.facts.files import File

from deploy.facts import asked_while_planning
from deploy.lib import stacks
from deploy.plans.release_plan import COMPOSE_DIR, ReleasePlan


@deploy("App release")
def write_release(plan: ReleasePlan):
    app_env = f"{plan.directory}/app.env"
    texts = {
        f"{plan.directory}/compose.yaml": (COMPOSE_DIR / "app.yaml").read_text(),
        f"{plan.directory}/release.env": plan.release_env,
        app_env: plan.app_env,
    }
    # release.json says when the release was first made; a re-run keeps it as it was.
    record = f"{plan.directory}/release.json"
    if not asked_while_planning(File, path=record):
        texts[record] = plan.record
    stacks.put_texts(name=f"Write release {plan.id} (compose file, image, app environment)", texts=texts,
                     private=(app_env,))
