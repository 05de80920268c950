"""Small queries against the local Docker daemon, shared by the commands."""

import shutil
import subprocess

from onehost.local.shell import CommandFailed


def image_field(reference: str, template: str) -> str | None:
    """`docker image inspect --format template` of the image, or None when the daemon has no such image."""
    result = subprocess.run(["docker", "image", "inspect", "--format", template, reference],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def image_id(reference: str) -> str | None:
    """The image's id, or None when the daemon has no such image."""
    return image_field(reference, "{{.Id}}")


def image_user(reference: str) -> str | None:
    """The user the image is configured to run as (Config.User: "", "app", "10001:10001"), or
    None when the daemon has no such image."""
    return image_field(reference, "{{.Config.User}}")


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
