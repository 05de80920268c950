"""The app's uploaded files (MEDIA_ROOT): <data_dir>/media, given to the user the release's image
runs as, before the switch starts the new colour with it mounted (compose/app.yaml).

Kept outside the release directories (every release mounts the same one) and on the data volume
(a host swap keeps it). The image is asked for its user (unless its configuration names the
uid and gid) once per release (a marker in the release
directory), so a re-run changes nothing; an image that runs as another user than the last one
gets the directory, and the files in it, handed over.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import server

from deploy.facts import asked_while_planning
from deploy.plans.release_plan import ReleasePlan
from deploy.settings import settings
from onehost.commands import compose_commands as commands
from onehost.commands import media
from onehost.local import docker_cli


def media_dir() -> str:
    return media.media_dir(settings().layout.data_dir)


def known_owner(plan: ReleasePlan) -> str | None:
    """The image's uid:gid read here, when its configuration says both (a shipped image is on this
    machine); otherwise the host runs the image to ask."""
    return media.numeric_owner(docker_cli.image_user(plan.app.image_id)) if plan.app.image_id else None


@deploy("Media files")
def prepare_media_dir(plan: ReleasePlan):
    marker = f"{plan.directory}/{media.OWNED_MARKER}"
    if asked_while_planning(File, path=marker):
        host.noop(f"{media_dir()} belongs to the user of release {plan.id}'s image")
        return
    server.shell(
        name=f"Give {media_dir()} to the user {plan.app.reference} runs as",
        commands=[commands.shell(media.give_to_image_user(media_dir(), plan.app.compose_reference, marker,
                                                          known_owner(plan)))],
    )
