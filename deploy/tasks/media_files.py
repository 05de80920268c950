"""The app's uploaded files (MEDIA_ROOT): <data_dir>/media, given to the user the release's image
runs as, before the switch starts the new colour with it mounted (compose/app.yaml).

Kept outside the release directories (every release mounts the same one) and on the data volume
(a host swap keeps it). The image is asked for its user (unless its configuration names the
uid and gid) once per release (a marker in the release
directory, naming the owner), so a re-run changes nothing; a release whose image runs as the
same numeric user as the release serving now carries its marker over (deploy/tasks/app_release.py);
an image that runs as another user than the last one gets the directory, and the files in it,
handed over.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import server

from deploy.facts import TextFile, asked_while_planning
from deploy.lib.deploy_paths import in_live_release
from deploy.plans import local_images
from deploy.plans.release_plan import ReleasePlan
from deploy.settings import settings
from onehost.commands import compose_commands as commands
from onehost.commands import media


def media_dir() -> str:
    return media.media_dir(settings().layout.data_dir)


def known_owner(plan: ReleasePlan) -> str | None:
    """The image's uid:gid read here, when its configuration says both (a shipped image is on this
    machine); otherwise the host runs the image to ask."""
    return media.numeric_owner(local_images.user(plan.app.image_id)) if plan.app.image_id else None


def owned_since_live_release(plan: ReleasePlan) -> bool:
    """The release serving now gave the directory to the very uid:gid this image runs as."""
    owner = known_owner(plan)
    marker = asked_while_planning(TextFile, path=in_live_release(media.OWNED_MARKER))
    return owner is not None and (marker or "").strip() == owner


@deploy("Media files")
def prepare_media_dir(plan: ReleasePlan):
    marker = f"{plan.directory}/{media.OWNED_MARKER}"
    if asked_while_planning(File, path=marker) or owned_since_live_release(plan):
        host.noop(f"{media_dir()} belongs to the user of release {plan.id}'s image")
        return
    server.shell(
        name=f"Give {media_dir()} to the user {plan.app.reference} runs as",
        commands=[commands.shell(media.give_to_image_user(media_dir(), plan.app.compose_reference, marker,
                                                          known_owner(plan)))],
    )
