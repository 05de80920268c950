"""Old releases go: the newest `keep_releases` stay, and `current` and `previous` always do."""

import time

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import docker, files

from deploy.facts import ReleaseDirectories, asked_while_planning
from deploy.plans.switch_plan import link_target
from deploy.settings import settings
from onehost.commands.release import releases_to_prune, shipped_archive
from onehost.commands.switch import SwitchPlan


@deploy("Prune releases")
def prune_releases(plan: SwitchPlan):
    keep = settings().deploy.keep_releases
    rows = [row for row in asked_while_planning(ReleaseDirectories, releases=plan.layout.releases)
            if row[1] != plan.release_id]
    # This deploy's release is the newest, whether or not its directory existed before.
    rows.append((int(time.time()) + 1, plan.release_id, plan.host_image))
    # After the switch, `current` is this release and `previous` the one it replaced; when
    # nothing switches, `previous` stays where it points.
    previous = link_target(f"{plan.layout.releases}/previous")
    protected = {plan.release_id, *(path.rsplit("/", 1)[-1] for path in (plan.replaces, previous) if path)}
    releases, images = releases_to_prune(rows, keep, protected)
    if not releases:
        host.noop(f"{len(rows)} releases on the host, keeping up to {keep}")
        return
    for release in releases:
        files.directory(name=f"Remove release {release}", path=f"{plan.layout.releases}/{release}",
                        present=False)
    for image in images:
        docker.image(name=f"Remove image {image}", image=image, present=False)
        if archive := shipped_archive(image):
            files.file(name=f"Remove the archive of {image}", path=f"{settings().layout.image_archives}/{archive}",
                       present=False)
