"""The app's static files, served by nginx: copied out of the release's image before the switch.

All releases share <data_dir>/static. Django's ManifestStaticFilesStorage gives every changed
file a new content-hashed name, so the files of the release serving now and of the one about
to serve sit side by side, and a page of either finds its files during the switch.

A release's marker names the image and the directory in it whose files it published; a release
of the same image and directory (a new tag of it, another setting) finds them published already
and carries the marker over (deploy/tasks/app_release.py).
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import server

from deploy.facts import TextFile, asked_while_planning
from deploy.lib.deploy_paths import in_live_release
from deploy.plans.release_plan import ReleasePlan
from deploy.settings import settings
from onehost.commands import compose_commands as commands
from onehost.commands import release


def static_dir() -> str:
    return settings().layout.static_dir


def published_files(plan: ReleasePlan) -> str:
    """What the marker names: the image (its id, or its registry digest when the host pulls it)
    and the directory the files were copied from."""
    return f"{plan.app.image_id or plan.app.digest or plan.app.compose_reference} {settings().deploy.app_static_dir}"


def published_by_live_release(plan: ReleasePlan) -> bool:
    """The release serving now published the static files of this very image and directory."""
    marker = asked_while_planning(TextFile, path=in_live_release(release.STATIC_PUBLISHED_MARKER))
    return (marker or "").strip() == published_files(plan)


@deploy("Static files")
def publish_static_files(plan: ReleasePlan):
    source = settings().deploy.app_static_dir
    if not source:
        host.noop("app_static_dir is empty: nginx serves no static files")
        return
    marker = f"{plan.directory}/{release.STATIC_PUBLISHED_MARKER}"
    if asked_while_planning(File, path=marker) or published_by_live_release(plan):
        host.noop(f"the static files of {plan.app.reference} are published")
        return
    hint = (f"the image {plan.app.reference} has no {source}: run collectstatic in its build "
            "(STATIC_ROOT), set --data app_static_dir= to where it keeps the files, or to '' to "
            "serve none from nginx")
    copy = commands.shell(commands.copy_from_image(plan.app.compose_reference, source, static_dir()))
    server.shell(
        name=f"Copy {source} of the release image to {static_dir()}",
        commands=[f"{copy} || {{ echo {commands.shell([hint])} >&2; exit 1; }}",
                  f"echo {commands.shell([published_files(plan)])} > {marker}"],
    )
