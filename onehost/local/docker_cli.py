"""Small queries against the local Docker daemon, shared by the commands."""

import json
import shutil
import subprocess
from collections.abc import Iterable

from onehost.local.shell import CommandFailed


def image_field(reference: str, template: str) -> str | None:
    """`docker image inspect --format template` of the image, or None when the daemon has no such image."""
    result = subprocess.run(["docker", "image", "inspect", "--format", template, reference],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def inspect_images(references: Iterable[str]) -> dict[str, dict | None]:
    """Each image as `docker image inspect` describes it, or None when the daemon has no such
    image: the calls made side by side (each `docker` start costs about 40 ms)."""
    started = {reference: subprocess.Popen(["docker", "image", "inspect", "--format", "{{json .}}", reference],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
               for reference in dict.fromkeys(references)}
    described = {}
    for reference, process in started.items():
        output, _ = process.communicate()
        described[reference] = json.loads(output) if process.returncode == 0 else None
    return described


def image_id(reference: str) -> str | None:
    """The image's id, or None when the daemon has no such image."""
    return image_field(reference, "{{.Id}}")


def layer_diff_ids(reference: str) -> list[str]:
    """The image's layers (their diff ids), bottom first."""
    result = subprocess.run(["docker", "image", "inspect", "--format",
                             "{{range .RootFS.Layers}}{{.}} {{end}}", reference],
                            capture_output=True, text=True, check=True)
    return result.stdout.split()


def container_state(name: str) -> str | None:
    """'running', 'exited', ... or None when there is no such container."""
    result = subprocess.run(["docker", "container", "inspect", "--format", "{{.State.Status}}", name],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def require_daemon() -> None:
    if shutil.which("docker") is None:
        raise CommandFailed("docker not found: install it with: apt-get install docker.io")
    result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise CommandFailed("the Docker daemon is not reachable: start it (`dockerd &` or "
                            "`systemctl start docker`), or run `make demo`, which starts it")
