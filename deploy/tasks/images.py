"""Getting images onto the host: shipped over the connection, or pulled from a registry."""

import shlex
from io import StringIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import NestedOperationError
from pyinfra.operations import docker, files, python, server

from deploy.facts import DockerImageId, DockerLayerChains, asked_while_planning
from deploy.plans.release_plan import HostImage, ReleasePlan
from deploy.settings import settings
from onehost.commands import compose_commands as commands
from onehost.commands import image_layers, private_files, registry, release
from onehost.local import docker_cli
from onehost.local.image_archive import prune_archives, write_partial_archive
from onehost.local.shell import run
from onehost.paths import state_dir


def save_archive(image_id: str) -> Path:
    """`docker save` once per image id; later deploys and hosts reuse the archive."""
    archives = state_dir() / "image-archives"
    archives.mkdir(parents=True, exist_ok=True)
    archive = archives / f"{image_id.removeprefix('sha256:')[:12]}.tar"
    if archive.exists():
        archive.touch()
    else:
        partial = archive.with_suffix(".partial")
        run(["docker", "save", "--output", str(partial), image_id])
        partial.rename(archive)
        prune_archives(archives)
    return archive


@deploy("Ship image")
def ship_image(image: HostImage):
    """Make the image runnable on the host as `image.compose_reference`.

    A local image is shipped over the connection and tagged by its id on the host, so a
    release keeps running exactly what it ran; a registry image is pulled by its digest.
    """
    reference, image_id, pinned = image.reference, image.image_id, image.compose_reference
    if image.digest:
        if asked_while_planning(DockerImageId, reference=pinned):
            host.noop(f"image {pinned} is on the host")
            return
        python.call(name=f"Pull {pinned}" + (" (with registry credentials)" if image.credentials else ""),
                    function=pull_by_digest, image=image)
        return
    if image_id is None:
        docker.image(name=f"Pull {reference}", image=reference, present=True)
        return
    if asked_while_planning(DockerImageId, reference=pinned) == image_id:
        host.noop(f"image {reference} ({image_id[:19]}) is on the host")
        return
    archive = save_archive(image_id)
    # On the data volume: a host that takes it over (an AMI swap) has none of this host's
    # images, and onehost-stacks loads them from here at its boot.
    archives = settings().layout.image_archives
    remote = f"{archives}/{release.shipped_archive(pinned)}"
    files.directory(name="Create the image archive directory", path=archives, mode="700")
    layers = image_layers.plan_layers(docker_cli.layer_diff_ids(image_id), host.get_fact(DockerLayerChains))
    if layers.partial:
        host_label = "".join(c if c.isalnum() else "-" for c in host.name)
        partial = archive.with_name(f"{archive.stem}-{host_label}.partial-layers.tar")
        size = write_partial_archive(archive, partial, layers)
        logger.info(f"Shipping {reference} ({image_id[:19]}) to {host.name}: {image_layers.describe(layers, size)}")
        files.put(name=f"Upload the layers of {reference} the host lacks", src=str(partial),
                  dest=f"{remote}.layers", mode="600")
        server.shell(name=f"Load {reference} as {pinned}", commands=[commands.shell(
            image_layers.load_partial_image(f"{remote}.layers", remote, image_id, pinned))])
        return
    logger.info(f"Shipping {reference} ({image_id[:19]}) to {host.name}: "
                f"{image_layers.describe(layers, archive.stat().st_size)}")
    files.put(name=f"Upload {reference}", src=str(archive), dest=remote, mode="600")
    server.shell(name=f"Load {reference} as {pinned}",
                 commands=[commands.shell(commands.load_image(remote, image_id, pinned))])


@deploy("Ship images")
def ship_images(plan: ReleasePlan):
    """The release's app image and the images of the long-lived stacks."""
    for image in (plan.app, plan.postgres, plan.nginx):
        ship_image(image)


def pull_by_digest(image: HostImage) -> None:
    """`docker pull repository@digest` on the host. With credentials they exist only for the
    pull: a 0700 directory under /run (tmpfs) holding a 0600 config.json, removed afterwards,
    whatever happened. They are uploaded, never part of a command line pyinfra could print."""
    sudo = settings().deploy.sudo

    def fail(problem: str) -> None:
        message = f"the host could not pull {image.compose_reference}: {problem}"
        host.log_styled(message, fg="red", log_func=logger.error)
        raise NestedOperationError(message)

    def run_command(command: list[str], step: str) -> None:
        ok, output = host.run_shell_command(shlex.join(command), _sudo=sudo)
        if not ok:
            lines = [line for line in output.stdout_lines + output.stderr_lines if line.strip()]
            fail(f"{step} failed ({' / '.join(lines[-2:]) or 'no output'})")

    pull_step = ("docker pull (this machine found the image in the registry: check that the host "
                 "reaches it)")
    if image.credentials is None:
        run_command(registry.pull(image.compose_reference), pull_step)
        return
    parsed = registry.parse_reference(image.reference)
    directory = private_files.staging_dir()
    try:
        run_command(private_files.make_staging_dir(directory), f"making {directory}")
        # The SSH user uploads into the 0700 directory, then root copies it into place.
        if not host.put_file(StringIO(registry.docker_config(parsed, image.credentials)),
                             f"{directory}/config.json", remote_temp_filename=f"{directory}/upload",
                             _sudo=sudo):
            fail(f"the registry credentials could not be uploaded to {directory}")
        run_command(registry.protect_config(directory), "protecting the credentials")
        run_command(registry.pull(image.compose_reference, directory), pull_step)
    finally:
        host.run_shell_command(shlex.join(private_files.remove_staging_dir(directory)), _sudo=sudo)
