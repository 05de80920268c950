"""A release directory for the app: what the blue/green switch starts. The directory is made with
the others (deploy/tasks/host_layout.py); its files are compared and written by one operation."""

from pyinfra.api import deploy
from pyinfra.facts.files import File

from deploy.facts import FileStates, asked_while_planning
from deploy.lib import stacks
from deploy.lib.deploy_paths import compared_release_files, in_live_release, release_files
from deploy.plans.release_plan import COMPOSE_DIR, ReleasePlan
from deploy.tasks.media_files import known_owner, owned_since_live_release
from deploy.tasks.static_files import published_by_live_release, published_files
from onehost.commands import media, release


@deploy("App release")
def write_release(plan: ReleasePlan):
    compose_file, release_env, app_env, record = release_files(plan.directory)
    texts = {compose_file: (COMPOSE_DIR / "app.yaml").read_text(), release_env: plan.release_env,
             app_env: plan.app_env}
    # release.json says when the release was first made; a re-run keeps it as it was.
    if not asked_while_planning(File, path=record):
        texts[record] = plan.record
    texts.update(carried_markers(plan))
    stacks.write_texts(f"Write release {plan.id} (compose file, image, app environment)", texts,
                       asked_while_planning(FileStates, paths=compared_release_files(plan.directory)),
                       private=(app_env,), same_as={app_env: in_live_release("app.env")})


def carried_markers(plan: ReleasePlan) -> dict[str, str]:
    """The markers of the release serving now that hold for this one too (the same image's static
    files published, the media directory given to the same user), written with its files: the
    steps they mark have nothing to do."""
    carried = {}
    for name, holds, text in ((release.STATIC_PUBLISHED_MARKER, published_by_live_release, published_files),
                              (media.OWNED_MARKER, owned_since_live_release, known_owner)):
        marker = f"{plan.directory}/{name}"
        if not asked_while_planning(File, path=marker) and holds(plan):
            carried[marker] = f"{text(plan)}\n"
    return carried
