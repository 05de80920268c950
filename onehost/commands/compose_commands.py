"""Commands run on the host, built as argument lists (pyinfra gets them shell-quoted)."""

import shlex


def compose(project: str, compose_file: str, env_file: str | None = None) -> list[str]:
    command = ["docker", "compose", "--project-name", project, "--file", compose_file]
    if env_file:
        command += ["--env-file", env_file]
    return command


def up(project: str, compose_file: str, env_file: str | None, wait_seconds: int) -> list[str]:
    """Start or update the stack and return only when every service reports healthy."""
    return compose(project, compose_file, env_file) + [
        "up", "--detach", "--wait", "--wait-timeout", str(wait_seconds), "--remove-orphans"]


def run_once(project: str, compose_file: str, env_file: str | None, service: str,
             *command: str) -> list[str]:
    """A one-off container of the service's image (migrations), removed afterwards."""
    return compose(project, compose_file, env_file) + ["run", "--rm", "--no-deps", service, *command]


# The project one-off app containers run under: apart from the colours' projects.
ONE_OFF_PROJECT = "app-oneoff"


def app_one_off(release_dir: str, image: str, *command: str, environment: dict[str, str] | None = None,
                volumes: tuple[str, ...] = ()) -> list[str]:
    """A throwaway container of a release's app service, running `image` (APP_IMAGE from the shell
    wins over release.env: https://docs.docker.com/compose/how-tos/environment-variables/envvars-precedence/).
    Compose reads the release's app.env with the parser the app's own containers get; `docker run
    --env-file` would not, it takes quotes and backslashes as part of the value
    (https://docs.docker.com/reference/cli/docker/container/run/#env)."""
    flags = [flag for key, value in (environment or {}).items() for flag in ("--env", f"{key}={value}")]
    flags += [flag for volume in volumes for flag in ("--volume", volume)]
    return ["env", f"APP_IMAGE={image}",
            *compose(ONE_OFF_PROJECT, f"{release_dir}/compose.yaml", f"{release_dir}/release.env"),
            "run", "--rm", "--no-deps", "-T", *flags, "app", *command]


def reload_nginx(project: str, compose_file: str, env_file: str | None) -> list[str]:
    """Check the configuration, then reload it without dropping connections."""
    return compose(project, compose_file, env_file) + [
        "exec", "-T", "nginx", "sh", "-c", "nginx -t -q && nginx -s reload"]


def health_check(url: str, host_header: str, attempts: int, options: tuple[str, ...] = (),
                 fail: bool = True) -> list[str]:
    """curl on the host, retried once a second until `attempts` run out. `fail`: an HTTP error
    is a failed command (curl's --fail); without it the answer's status and body come back."""
    return ["curl", *(["--fail"] if fail else []), "--silent", "--show-error", "--max-time", "5",
            "--retry", str(attempts), "--retry-delay", "1", "--retry-all-errors", *options,
            "--header", f"Host: {host_header}", url]


def edge_health_check(server_name: str, tls: bool, attempts: int, fail: bool = True) -> list[str]:
    """/health/ through this host's nginx: over HTTPS when the edge has TLS (HTTP only redirects
    then), with the server name's SNI. Any certificate passes: this checks the app behind nginx,
    the public check checks the certificate."""
    if not tls:
        return health_check("http://127.0.0.1/health/", server_name, attempts, fail=fail)
    return health_check(f"https://{server_name}/health/", server_name, attempts,
                        ("--insecure", "--resolve", f"{server_name}:443:127.0.0.1"), fail=fail)


def load_image(archive: str, image_id: str, pinned: str) -> list[str]:
    """Load and tag; the archive stays (on the data volume), for a host that replaces this one."""
    return ["sh", "-c", f"docker load --quiet --input {shlex.quote(archive)} && "
                        f"docker tag {shlex.quote(image_id)} {shlex.quote(pinned)}"]


def copy_from_image(image: str, source_dir: str, dest_dir: str) -> list[str]:
    """Copy a directory's contents out of an image without running it (no shell needed in it)."""
    script = ('set -e; id=$(docker create "$1"); trap \'docker rm "$id" >/dev/null\' EXIT; '
              'mkdir -p "$3"; docker cp "$id:$2/." "$3/"')
    return ["sh", "-c", script, "copy-from-image", image, source_dir, dest_dir]


def shell(command: list[str]) -> str:
    return shlex.join(command)
