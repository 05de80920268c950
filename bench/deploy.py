"""Deploy timings and stack memory on a fresh local instance.

    .venv/bin/python bench/deploy.py [--repeat 5] [--keep]

Prints seconds for a first deploy; for a deploy of a new image whose top layer only changed
(and the bytes the instance received for it: only the layers it lacks are shipped); for a deploy
of a new tag whose image is already on the host; for a no-op re-run; the app's own boot to
healthy (the floor a switch cannot beat); and the memory each container of the stack uses on
the instance (inner `docker stats`). The new-tag deploy and the floor are measured --repeat
times in turn (medians printed, every round listed: other work on the machine moves single
figures by half a second), each deploy once the one before has retired its old colour.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onehost.commands import switch
from onehost.local import (
    app_image,
    base_images,
    instance,
)
from onehost.local.bake import bake_local_image
from onehost.local.shell import CommandFailed, run
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import run_deploy

BENCH_ENV = {"ONEHOST_INSTANCE": "onehost-bench", "ONEHOST_SSH_PORT": "22222",
             "ONEHOST_HTTP_PORT": "28080", "ONEHOST_HTTPS_PORT": "28443"}
INNER_SECONDS = 300         # any one command inside the instance


def inner(config, *command: str, timeout: float = INNER_SECONDS) -> str:
    """A command inside the instance as root; its stdout."""
    result = subprocess.run(["docker", "exec", config.name, *command], capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise CommandFailed(f"in {config.name}: {' '.join(command)} failed ({result.returncode}):\n"
                            f"{(result.stdout + result.stderr).strip()[-2000:]}")
    return result.stdout


def timed_deploy(image: str) -> float:
    start = time.monotonic()
    run_deploy("deploy.py", {"image": image}, environ=BENCH_ENV, capture=True, timeout=900)
    return time.monotonic() - start


TOP_LAYER_BYTES = 4_000_000
HEALTH_START_INTERVAL = 1.0    # compose/app.yaml: healthcheck start_interval


def new_image_from(base: str, tag: str, context: Path) -> None:
    """A new image on the same layers plus one, as a code change makes: 4 MB of random bytes."""
    context.mkdir(parents=True, exist_ok=True)
    (context / "change.bin").write_bytes(os.urandom(TOP_LAYER_BYTES))
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY change.bin /app/change.bin\n")
    run(["docker", "build", "--quiet", "--tag", tag, str(context)], capture=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"})


def received_bytes(config) -> int:
    return int(inner(config, "cat", "/sys/class/net/eth0/statistics/rx_bytes"))


def boot_to_healthy(config, deadline: float = 120) -> float:
    """Seconds from `docker run` of the live release's image (its env, the shared network) to
    its first /health/ answer, probed from inside it every 0.2 s: the floor under any switch."""
    name = "onehost-bench-boot"
    probe = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/', timeout=2)"
    release_env = inner(config, "cat", "/data/releases/current/release.env").splitlines()
    image_ref = next(line.split("=", 1)[1].strip("'\"") for line in release_env if line.startswith("APP_IMAGE="))
    start = time.monotonic()
    inner(config, "docker", "run", "--detach", "--name", name, "--network", "onehost", "--env-file",
          "/data/releases/current/app.env", image_ref)
    try:
        while time.monotonic() - start < deadline:
            answered = subprocess.run(["docker", "exec", config.name, "docker", "exec", name, "python3", "-c", probe],
                                      capture_output=True, timeout=30).returncode == 0
            if answered:
                return time.monotonic() - start
            time.sleep(0.2)
        return float("nan")
    finally:
        subprocess.run(["docker", "exec", config.name, "docker", "rm", "--force", name], capture_output=True)



def retired(config) -> None:
    """Until no colour is being retired (a switch stops the old one in the background, and the
    next start of that colour would wait for it)."""
    inner(config, *switch.wait_for_retires(120))


def stack_memory(config) -> list[str]:
    return subprocess.run(
        ["docker", "exec", config.name, "docker", "stats", "--no-stream", "--format",
         "{{.Name}}\t{{.MemUsage}}"], capture_output=True, text=True, check=True).stdout.splitlines()


def fresh_bench_instance(v1: str, v2: str) -> instance.InstanceConfig:
    """The bench instance, new, and two app images that differ in one layer."""
    os.environ.update(BENCH_ENV)
    config = instance.InstanceConfig.from_environment()
    bases = base_images.ensure_all()
    bake_local_image()
    instance.reset(config)
    instance.up(config)
    app_image.build(REPO_ROOT / "example", v1, base_image=bases["python"])
    new_image_from(v1, v2, Path(tempfile.mkdtemp(prefix="onehost-bench-")))
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of new-tag deploy and floor (default 5)")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    config = fresh_bench_instance("timewarp:bench-v1", "timewarp:bench-v2")

    first = timed_deploy("timewarp:bench-v1")
    before = received_bytes(config)
    second = timed_deploy("timewarp:bench-v2")
    shipped = received_bytes(config) - before
    new_tags, floors = [], []
    for round_number in range(args.repeat):
        tag = f"timewarp:bench-v2-{round_number}"
        run(["docker", "tag", "timewarp:bench-v2", tag], capture=True)
        retired(config)
        new_tags.append(timed_deploy(tag))
        floors.append(boot_to_healthy(config))
    noop = timed_deploy(tag)
    new_tag, floor = statistics.median(new_tags), statistics.median(floors)
    memory = stack_memory(config)
    print(f"first deploy (fresh host, 3 images shipped):   {first:6.1f} s")
    print(f"deploy of a new image (top layer changed):     {second:6.1f} s, "
          f"{shipped / 1e6:.1f} MB received for a {TOP_LAYER_BYTES / 1e6:.1f} MB layer")
    print(f"deploy of a new tag, image already on host:    {new_tag:6.1f} s")
    print(f"no-op re-run:                                  {noop:6.1f} s")
    print(f"the app's boot to healthy (the floor):         {floor:6.1f} s")
    print(f"target for a new-tag deploy, 2x (floor + the {HEALTH_START_INTERVAL:.0f} s health interval): "
          f"{2 * (floor + HEALTH_START_INTERVAL):.1f} s; measured {new_tag / (floor + HEALTH_START_INTERVAL):.2f}x")
    print("rounds (s): new tag " + ", ".join(f"{value:.2f}" for value in new_tags)
          + "; floor " + ", ".join(f"{value:.2f}" for value in floors))
    print("stack memory on the instance:")
    for line in memory:
        print(f"  {line}")
    if not args.keep:
        instance.reset(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
