"""The local instance: a container from the baked image standing in for the EC2 host.

It runs systemd as PID 1, sshd and its own dockerd; /data is a Docker volume, as the
data volume is an EBS volume on AWS. SSH, HTTP and HTTPS are published on 127.0.0.1.
"""

import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from onehost.commands.cloud_config import user_data
from onehost.local import docker_cli
from onehost.local.shell import CommandFailed, output, progress, run
from onehost.paths import state_dir

IMAGE = "onehost/instance:latest"
ADMIN_USER = "admin"
# Where cloud-init's NoCloud datasource reads a seed from the instance's own disk
# (https://docs.cloud-init.io/en/latest/reference/datasources/nocloud.html).
SEED_DIR = "var/lib/cloud/seed/nocloud"
# How long a boot may take, from start to cloud-init's final stage (about 2 s here).
CLOUD_INIT_TIMEOUT = 120


@dataclass(frozen=True)
class InstanceConfig:
    name: str = "onehost-local"
    image: str = IMAGE
    ssh_port: int = 2222
    http_port: int = 8080
    https_port: int = 8443

    @classmethod
    def from_environment(cls, environ=os.environ) -> "InstanceConfig":
        def port(variable, default):
            value = environ.get(variable, str(default))
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise CommandFailed(f"{variable}={value!r} is not a TCP port (1-65535)")
            return int(value)
        return cls(name=environ.get("ONEHOST_INSTANCE", cls.name),
                   image=environ.get("ONEHOST_INSTANCE_IMAGE", cls.image),
                   ssh_port=port("ONEHOST_SSH_PORT", cls.ssh_port),
                   http_port=port("ONEHOST_HTTP_PORT", cls.http_port),
                   https_port=port("ONEHOST_HTTPS_PORT", cls.https_port))

    @property
    def data_volume(self) -> str:
        return f"{self.name}-data"

    @property
    def docker_volume(self) -> str:
        return f"{self.name}-docker"

    @property
    def state(self) -> Path:
        path = state_dir() / "instances" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def known_hosts(self) -> Path:
        return self.state / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.state / "ssh_config"

    @property
    def app_env(self) -> Path:
        """The app's settings and secrets for this instance, made with fresh secrets on first up."""
        return self.state / "app.env"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def ssh_key() -> Path:
    """The key the local instance trusts, made on first use."""
    key = state_dir() / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "onehost-local", "-f", str(key)])
    return key


def container_options(config: InstanceConfig) -> list[str]:
    """The options and command of a systemd container with its own dockerd, without --privileged.

    `--tty` gives it a console: Docker makes the terminal the container's /dev/console, where
    systemd and cloud-init write what a host writes to its serial console, and `docker logs`
    replays it (console_output)."""
    return [
        "--name", config.name, "--hostname", config.name, "--tty",
        "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
        "--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined",
        "--cgroupns=host", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "--volume", f"{config.data_volume}:/data",
        "--volume", f"{config.docker_volume}:/var/lib/docker",
        "--publish", f"127.0.0.1:{config.ssh_port}:22",
        "--publish", f"127.0.0.1:{config.http_port}:80",
        "--publish", f"127.0.0.1:{config.https_port}:443",
        "--stop-signal", "SIGRTMIN+3", "--stop-timeout", "30",
        "--label", "org.onehost.role=local-instance",
        config.image, "/sbin/init",
    ]


def run_command(config: InstanceConfig) -> list[str]:
    """`docker run`: the image booted as it is, without a seed (cloud-init finds no datasource)."""
    return ["docker", "run", "--detach", *container_options(config)]


def create_command(config: InstanceConfig) -> list[str]:
    """`docker create`: the container exists, unstarted, so its seed can be copied in first."""
    return ["docker", "create", *container_options(config)]


def new_instance_id() -> str:
    """A new id for each container, shaped like EC2's (i- and 17 hex digits): cloud-init runs its
    per-instance modules (login, host keys, console) once for each id."""
    return "i-" + secrets.token_hex(9)[:17]


def seed_files(instance_id: str, hostname: str, public_keys: list[str]) -> dict[str, str]:
    """The NoCloud seed, file name -> text: meta-data as EC2's metadata service gives it,
    user-data as `onehost hosts` gives an EC2 instance, and a network-config that leaves the
    container's network to Docker. Without it cloud-init renders a DHCP fallback for eth0 (a
    systemd-networkd file) on a network with no DHCP server; a datasource may disable network
    config (https://docs.cloud-init.io/en/latest/reference/network-config.html, "Disabling
    network configuration"; cloudinit/stages.py `_find_networking_config`). Values are JSON
    strings, which YAML reads as strings whatever the name."""
    return {
        "meta-data": f"instance-id: {json.dumps(instance_id)}\nlocal-hostname: {json.dumps(hostname)}\n",
        "user-data": user_data(list(public_keys)),
        "network-config": "network:\n  config: disabled\n",
    }


def seed_archive(files: dict[str, str], mtime: float) -> bytes:
    """A tar of the seed for `docker cp - NAME:/`, which makes the missing directories too.
    The files are root's alone: user-data may carry secrets."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        parts = SEED_DIR.split("/")
        for depth in range(3, len(parts) + 1):  # var/lib exists; cloud/seed/nocloud may not
            entry = tarfile.TarInfo("/".join(parts[:depth]))
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, mtime
            archive.addfile(entry)
        for name, text in files.items():
            data = text.encode()
            entry = tarfile.TarInfo(f"{SEED_DIR}/{name}")
            entry.size, entry.mode, entry.mtime = len(data), 0o600, mtime
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def cloud_init_problem(report: dict) -> str | None:
    """What went wrong with a local instance's boot, from `cloud-init status --format json`;
    None when cloud-init finished from the NoCloud seed."""
    status = report.get("status")
    if status == "disabled":
        return (f"did not run ({report.get('boot_status_code')}): it found no datasource, "
                "so the instance has no NoCloud seed")
    if status != "done" or report.get("errors"):
        return f"ended {status}: " + "; ".join(report.get("errors") or ["no errors listed"])
    if report.get("datasource") != "nocloud":
        return f"booted from the {report.get('datasource')} datasource, not the NoCloud seed"
    return None


def console_text(raw: bytes) -> str:
    """A terminal's output as text: its line ends (\\r\\n, \\r\\r\\n) made \\n."""
    return re.sub(r"\r+\n", "\n", raw.decode(errors="replace"))


def ssh_options(config: InstanceConfig) -> list[str]:
    return ["-i", str(ssh_key()), "-p", str(config.ssh_port),
            "-o", f"UserKnownHostsFile={config.known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5"]


def ssh_config_text(config: InstanceConfig) -> str:
    """An ssh_config entry for `ssh -F`, testinfra's --ssh-config and other tools."""
    return (f"Host {config.name}\n  HostName 127.0.0.1\n  Port {config.ssh_port}\n"
            f"  User {ADMIN_USER}\n  IdentityFile {ssh_key()}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {config.known_hosts}\n  StrictHostKeyChecking accept-new\n")


def write_app_env(path: Path) -> None:
    """Random secrets for a local instance, as SSM parameters hold them for an AWS host."""
    if path.exists():
        return
    path.touch(mode=0o600)
    path.write_text(f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
                    f"DB_PASSWORD={secrets.token_urlsafe(24)}\n")


def wait_until(check, what: str, timeout: float, interval: float = 0.5):
    """Poll `check` until it returns a truthy value; raise with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise CommandFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _systemd_settled(config: InstanceConfig) -> bool:
    result = subprocess.run(["docker", "exec", config.name, "systemctl", "is-system-running"],
                            capture_output=True, text=True)
    state = result.stdout.strip()
    if state == "degraded":
        failed = output(["docker", "exec", config.name, "systemctl", "--failed", "--no-legend"])
        progress(f"warning: systemd is degraded on {config.name}: {failed}")
    return state in ("running", "degraded")


def sshd_answers(port: int, host: str = "127.0.0.1", timeout: float = 5) -> bool:
    """Whether an SSH server answers on the port: it sends its identification line, starting
    "SSH-", first (RFC 4253 section 4.2; it may send other lines before it). A published port
    whose container does not listen yet is accepted by Docker's proxy and closed at once
    (moby/moby cmd/docker-proxy/tcp_proxy_linux.go, clientLoop): connecting alone proves nothing."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            received = b""
            while len(received) < 8192:
                chunk = connection.recv(1024)
                if not chunk:
                    return False
                received += chunk
                if any(line.startswith(b"SSH-") for line in received.split(b"\n")[:-1]):
                    return True
    except OSError:
        return False
    return False


def _cloud_init_status_long(config: InstanceConfig) -> str:
    result = subprocess.run(["docker", "exec", config.name, "cloud-init", "status", "--long"],
                            capture_output=True, text=True)
    return (result.stdout + result.stderr).strip()


def _wait_for_cloud_init(config: InstanceConfig) -> None:
    """Wait for cloud-init's last stage; CommandFailed with `cloud-init status --long` when it
    failed, or did not boot from the seed (the login would be missing)."""
    try:
        result = subprocess.run(["docker", "exec", config.name, "cloud-init", "status", "--wait",
                                 "--format", "json"], capture_output=True, text=True,
                                timeout=CLOUD_INIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"cloud-init on {config.name} did not finish within {CLOUD_INIT_TIMEOUT} s:\n"
                            f"{_cloud_init_status_long(config)}") from None
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise CommandFailed(f"no cloud-init status from {config.name} ({result.stderr.strip()}): an "
                            "image without cloud-init? `onehost bake`, then `onehost instance reset "
                            "--yes` and up again") from None
    problem = cloud_init_problem(report)
    if problem:
        raise CommandFailed(f"cloud-init on {config.name} {problem}:\n{_cloud_init_status_long(config)}")
    if report.get("recoverable_errors"):
        progress(f"warning: cloud-init on {config.name} logged recoverable errors:\n"
                 f"{_cloud_init_status_long(config)}")


def copy_seed(container: str, files: dict[str, str]) -> None:
    """Put a NoCloud seed (seed_files) into a created, not yet started, container."""
    run(["docker", "cp", "-", f"{container}:/"], input=seed_archive(files, time.time()), capture=True)


def create(config: InstanceConfig, public_key: str) -> None:
    """Create the container, copy its NoCloud seed in, start it: it boots as EC2 boots an AMI."""
    run(create_command(config), capture=True)
    try:
        copy_seed(config.name, seed_files(new_instance_id(), config.name, [public_key]))
        run(["docker", "start", config.name], capture=True)
    except CommandFailed:
        # An unseeded container would boot without a login: none is better.
        subprocess.run(["docker", "rm", "--force", config.name], capture_output=True)
        raise


def console_output(config: InstanceConfig) -> str:
    """The instance's console, as EC2's GetConsoleOutput returns a host's serial console: every
    boot's systemd and cloud-init lines, and the host keys cloud-init printed at first boot
    between -----BEGIN SSH HOST KEY KEYS----- and -----END SSH HOST KEY KEYS-----."""
    result = subprocess.run(["docker", "logs", config.name], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise CommandFailed(f"no console for {config.name}: {console_text(result.stdout).strip()}")
    return console_text(result.stdout)


def up(config: InstanceConfig) -> None:
    docker_cli.require_daemon()
    state = docker_cli.container_state(config.name)
    if state is None:
        if not docker_cli.image_id(config.image):
            raise CommandFailed(f"no instance image {config.image}: bake it with `onehost bake`")
        progress(f"starting {config.name} from {config.image}")
        config.known_hosts.unlink(missing_ok=True)  # a new container has new host keys
        create(config, Path(f"{ssh_key()}.pub").read_text().strip())
    elif state != "running":
        progress(f"starting the stopped {config.name}")
        run(["docker", "start", config.name], capture=True)
    wait_until(lambda: _systemd_settled(config), f"systemd on {config.name}", timeout=90)
    _wait_for_cloud_init(config)  # admin's login comes from cloud-init, as on EC2
    config.ssh_config.write_text(ssh_config_text(config))
    write_app_env(config.app_env)
    # Reaching it as the inventory does (a login through the host session) is onehost.remote's:
    # `onehost instance up` waits for that too (onehost/remote/local_instance.py).
    wait_until(lambda: sshd_answers(config.ssh_port), f"sshd on 127.0.0.1:{config.ssh_port}", timeout=60)
    progress(f"{config.name} is up: ssh -F {config.ssh_config} {config.name}")


def down(config: InstanceConfig) -> None:
    if docker_cli.container_state(config.name) == "running":
        progress(f"stopping {config.name} (its /data volume is kept)")
        run(["docker", "stop", "--time", "30", config.name], capture=True)


def reset(config: InstanceConfig) -> None:
    """Remove the instance and its volumes: every release and database row on it is gone."""
    progress(f"removing {config.name} with volumes {config.data_volume} and {config.docker_volume}")
    subprocess.run(["docker", "rm", "--force", "--volumes", config.name], capture_output=True)
    for volume in (config.data_volume, config.docker_volume):
        subprocess.run(["docker", "volume", "rm", "--force", volume], capture_output=True)
    shutil.rmtree(config.state, ignore_errors=True)


def health(config: InstanceConfig, timeout: float = 3) -> tuple[int | None, dict | str]:
    """Status code and body of /health/ through the instance's nginx; (None, reason) when unreachable."""
    try:
        with urllib.request.urlopen(f"{config.url}/health/", timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")[:200]
    except (OSError, ValueError) as error:
        return None, str(error)


def status(config: InstanceConfig) -> int:
    state = docker_cli.container_state(config.name)
    if state is None:
        print(f"{config.name}: not created (start it with `onehost instance up`)")
        return 3
    print(f"{config.name}: {state}")
    if state != "running":
        print("  start it with `onehost instance up`")
        return 3
    print(f"  ssh:    ssh -F {config.ssh_config} {config.name}")
    print(f"  http:   {config.url}/")
    print(f"  https:  https://127.0.0.1:{config.https_port}/")
    code, body = health(config)
    print(f"  health: {code if code else 'unreachable'} {body}")
    stacks = subprocess.run(["docker", "exec", config.name, "docker", "ps", "--format",
                             "{{.Names}}\t{{.Status}}\t{{.Image}}"], capture_output=True, text=True)
    for line in stacks.stdout.splitlines():
        print(f"  container: {line}")
    return 0
