"""onehost-stacks, the boot script that brings a host's stacks up from the data volume (after a
reboot, or on a new host after an AMI swap), run against a data directory and a stand-in docker
that records what it is asked."""

import os
import subprocess
from pathlib import Path

from onehost.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy/rootfs/usr/local/sbin/onehost-stacks"
# Records each call; `config --images` answers nothing, `network inspect` succeeds.
STANDIN_DOCKER = """#!/bin/sh
echo "$*" >> "$DOCKER_CALLS"
"""


def data_dir(root: Path, *, broker: bool, processes: tuple[str, ...]) -> Path:
    data = root / "data"
    stacks = ["data", "edge"] + (["broker"] if broker else [])
    for stack in stacks:
        (data / "stacks" / stack).mkdir(parents=True)
        (data / "stacks" / stack / "compose.yaml").write_text("services: {}\n")
        (data / "stacks" / stack / "stack.env").write_text("")
    (data / "stacks/edge/conf.d").mkdir()
    (data / "stacks/edge/conf.d/upstream.inc").write_text(
        "# live: http://app-green-app-1:8000, reached through sockets/live.sock -> app-green.sock\n"
        "set $app_upstream http://unix:/etc/nginx/conf.d/sockets/live.sock:;\n")
    release = data / "releases/v2-abc"
    (release / "processes").mkdir(parents=True)
    (release / "compose.yaml").write_text("services: {}\n")
    for name in processes:
        (release / "processes" / f"{name}.env").write_text("")
    (data / "releases/current").symlink_to("v2-abc")
    return data


def boot(tmp_path: Path, data: Path) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STANDIN_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    calls = tmp_path / "calls"
    result = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, timeout=60, env={
        **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DATA_DIR": str(data),
        "DOCKER_CALLS": str(calls)})
    assert result.returncode == 0, result.stderr
    return [line for line in calls.read_text().splitlines() if line.endswith("up --detach")]


def up(project: str, compose_file: Path, env_file: Path) -> str:
    return f"compose --project-name {project} --file {compose_file} --env-file {env_file} up --detach"


def test_the_broker_and_the_live_releases_processes_come_up_after_the_data_stack(tmp_path):
    data = data_dir(tmp_path, broker=True, processes=("beat", "worker"))
    stacks, release = data / "stacks", data / "releases/v2-abc"
    assert boot(tmp_path, data) == [
        up("data", stacks / "data/compose.yaml", stacks / "data/stack.env"),
        up("broker", stacks / "broker/compose.yaml", stacks / "broker/stack.env"),
        up("app-green", release / "compose.yaml", release / "release.env"),
        up("proc-green-beat", release / "processes.yaml", release / "processes/beat.env"),
        up("proc-green-worker", release / "processes.yaml", release / "processes/worker.env"),
        up("edge", stacks / "edge/compose.yaml", stacks / "edge/stack.env"),
    ]


def test_a_host_without_broker_or_processes_starts_what_it_has(tmp_path):
    data = data_dir(tmp_path, broker=False, processes=())
    assert [call.split()[2] for call in boot(tmp_path, data)] == ["data", "app-green", "edge"]
