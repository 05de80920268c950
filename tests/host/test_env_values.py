"""Every env value reaches the app byte for byte: `$`, `#`, quotes, spaces, `=`, backslashes,
newlines. Checked with the host's own Compose (its env-file parser is the one that matters) and
in the running app's process environment after a deploy."""

import json
import secrets
import string
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from onehost.commands import release
from onehost.local import bake, instance
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import pyinfra_command
from tests.host.conftest import APP_IMAGE

TOKEN = secrets.token_hex(8)
NASTY = {
    "SECRET_KEY": f"k$HOME ${{USER}} $$ #not-a-comment \"dq\" 'sq' sp  ace ==eq \\back\\slash\\n {TOKEN}\\",
    "ONEHOST_PROBE_DOLLARS": "$1$$2${X:-y}$",
    "ONEHOST_PROBE_HASH": "a #b # c",
    "ONEHOST_PROBE_LINES": "-----BEGIN KEY-----\nabc\r\ndef\n-----END KEY-----",
    "ONEHOST_PROBE_EDGES": "  lead and trail\t ",
    "ONEHOST_PROBE_QUOTED": "'single' \"double\" `back`",
    "ONEHOST_PROBE_EMPTY": "",
    "ONEHOST_PROBE_UNICODE": "ünï €",
}


def compose_reads(tmp_path, env: dict[str, str]) -> dict[str, str]:
    """What the baked host image's `docker compose` makes of render_env's file (no daemon needed)."""
    (tmp_path / "app.env").write_text(release.render_env(env))
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    image: scratch\n    env_file: app.env\n")
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--volume", f"{tmp_path}:/w:ro",
         "--entrypoint", "docker", f"{bake.IMAGE_REPOSITORY}:latest",
         "compose", "--file", "/w/compose.yaml", "config", "--format", "json"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)["services"]["app"]["environment"]
    # `config` prints the model as a Compose file again, where a literal `$` is written `$$`
    # (https://docs.docker.com/reference/compose-file/interpolation/).
    return {key: value.replace("$$", "$") for key, value in environment.items()}


def test_the_hosts_compose_reads_every_value_as_written(tmp_path, base_image_names):
    values = {**NASTY, "ONEHOST_PROBE_PRINTABLE": string.printable,
              "ONEHOST_PROBE_ESCAPES": "\\\\ \\$ \\\" \\n \\0123 \\t \\x41"}
    assert compose_reads(tmp_path, values) == values


def user_env_file(path, env: dict[str, str]) -> None:
    """The user's env file, double-quoted the way python-dotenv documents it."""
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'
    path.write_text("".join(f"{key}={quoted(value)}\n" for key, value in env.items()))


def app_process_environment(test_instance) -> dict[str, str]:
    """The environment of the live app's main process (Gunicorn), as the kernel holds it."""
    container = test_instance.live_container()
    # Bytes, not text: text mode would turn the carriage returns it holds into newlines.
    raw = subprocess.run(["docker", "exec", test_instance.config.name, "docker", "exec", container,
                          "cat", "/proc/1/environ"], capture_output=True, check=True, timeout=60).stdout
    return dict(entry.split("=", 1) for entry in raw.decode().split("\0") if "=" in entry)


READER = "/tmp/onehost-test-inotify-reader.py"
READER_REPORT = "/tmp/onehost-test-inotify-reader.out"
# Where an upload or its destination could appear; one that `nobody` cannot read is not watched.
WATCHED = ("/tmp", "/var/tmp", "/run", "/data", "/data/releases", "/data/stacks", "/data/stacks/data",
           "/data/backups")


@contextmanager
def unprivileged_reader(test_instance):
    """inotify_reader.py as `nobody` on the host while the block runs; yields the paths it read
    the token from (filled in when the block ends)."""
    name = test_instance.config.name
    # Through the container's own view of /tmp: `docker cp` writes beneath the tmpfs systemd mounts there.
    subprocess.run(["docker", "exec", "--interactive", name, "sh", "-c", f"cat > {READER}"], check=True,
                   input=Path(__file__).with_name("inotify_reader.py").read_bytes(), timeout=30)
    test_instance.inner("rm", "-f", READER_REPORT)
    subprocess.run(["docker", "exec", "--detach", "--user", "nobody", name, "python3", READER, TOKEN,
                    READER_REPORT, *WATCHED], check=True, timeout=30)
    instance.wait_until(lambda: "watching" in test_instance.inner("cat", READER_REPORT, check=False).stdout,
                        "the unprivileged reader to start", timeout=20)
    found: list[str] = []
    try:
        yield found
    finally:
        test_instance.inner("pkill", "--full", READER, check=False)
        report = test_instance.inner("cat", READER_REPORT).stdout.splitlines()
        found.extend(line for line in report if line != "watching")


@pytest.fixture(scope="module")
def nasty_release(tmp_path_factory, test_instance, deployed, deployer):
    """A deploy (with --diff) whose env file holds NASTY, watched by another user of the host;
    the session's env file again afterwards."""
    env = release.parse_env_file(test_instance.config.app_env.read_text(), "app.env")
    env.update(NASTY)
    env_file = tmp_path_factory.mktemp("env") / "app.env"
    user_env_file(env_file, env)
    assert release.parse_env_file(env_file.read_text(), str(env_file)) == env
    command = pyinfra_command("deploy.py", {"image": APP_IMAGE, "env_file": str(env_file)})
    command.insert(command.index("--yes") + 1, "--diff")
    with unprivileged_reader(test_instance) as read_by_others:
        result = subprocess.run(command, cwd=REPO_ROOT, env=deployer.environ, capture_output=True,
                                text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield result, read_by_others
    deployer.run({"image": APP_IMAGE})
    test_instance.wait_for_health()


def test_the_running_app_gets_every_value_byte_for_byte(test_instance, nasty_release):
    environment = app_process_environment(test_instance)
    assert {key: environment.get(key) for key in NASTY} == NASTY
    assert test_instance.get("/health/")[0] == 200


def test_no_other_user_could_read_the_secret_at_any_moment(nasty_release):
    _, read_by_others = nasty_release
    assert read_by_others == []


def test_diff_shows_that_the_env_changed_but_not_the_secret(nasty_release):
    result, _ = nasty_release
    printed = result.stdout + result.stderr
    assert TOKEN not in printed
    assert "app.env (private: its contents are not shown)" in printed
