"""Getting images onto the host: shipped over the connection, or pulled from a registry."""

from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import docker, files, server

from deploy.facts import DockerImageId
from deploy.tasks.release_plan import HostImage, ReleasePlan
from onehost import compose_commands as commands
from onehost.paths import state_dir
from onehost.shell import run

STAGING_DIR = "/var/tmp/onehost-images"


def save_archive(image_id: str) -> Path:
    """`docker save` once per image id; later deploys and hosts reuse the archive."""
    archives = state_dir() / "image-archives"
    archives.mkdir(parents=True, exist_ok=True)
    archive = archives / f"{image_id.removeprefix('sha256:')[:12]}.tar"
    if not archive.exists():
        partial = archive.with_suffix(".partial")
        run(["docker", "save", "--output", str(partial), image_id])
        partial.rename(archive)
    return archive


@deploy("Ship image")
def ship_image(image: HostImage):
    """Make the image runnable on the host as `image.compose_reference`.

    A local image is shipped over the connection and tagged by its id on the host, so a
    release keeps running exactly what it ran; otherwise the host pulls it.
    """
    reference, image_id, pinned = image.reference, image.image_id, image.compose_reference
    if image_id is None:
        docker.image(name=f"Pull {reference}", image=reference, present=True)
        return
    if host.get_fact(DockerImageId, reference=pinned) == image_id:
        host.noop(f"image {reference} ({image_id[:19]}) is on the host")
        return
    logger.info(f"Shipping {reference} ({image_id[:19]}) to {host.name}")
    archive = save_archive(image_id)
    remote = f"{STAGING_DIR}/{archive.name}"
    files.directory(name="Create the image staging directory", path=STAGING_DIR, mode="700")
    files.put(name=f"Upload {reference}", src=str(archive), dest=remote, mode="600")
    server.shell(name=f"Load {reference} as {pinned}",
                 commands=[commands.shell(commands.load_image(remote, image_id, pinned))])


@deploy("Ship images")
def ship_images(plan: ReleasePlan):
    """The release's app image and the images of the long-lived stacks."""
    for image in (plan.app, plan.postgres, plan.nginx):
        ship_image(image)
