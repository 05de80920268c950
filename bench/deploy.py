"""Deploy timings and stack memory on a fresh local instance.

    .venv/bin/python bench/deploy.py [--keep]

Prints seconds for a first deploy, for a deploy of a new image, for a no-op re-run, and the
memory each container of the stack uses on the instance (inner `docker stats`).
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def new_image_from(base: str, tag: str) -> None:
    """A new image id on the same layers, as a code change makes (one layer differs)."""
    dockerfile = f"FROM {base}\nLABEL org.onehost.bench={tag}\n".encode()
    run(["docker", "build", "--quiet", "--tag", tag, "-"], input=dockerfile, capture=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"})


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
    new_image_from(v1, v2)
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    config = fresh_bench_instance("timewarp:bench-v1", "timewarp:bench-v2")

    first = timed_deploy("timewarp:bench-v1")
    second = timed_deploy("timewarp:bench-v2")
    noop = timed_deploy("timewarp:bench-v2")
    memory = stack_memory(config)
    print(f"first deploy (fresh host, 3 images shipped): {first:6.1f} s")
    print(f"deploy of a new app image:                   {second:6.1f} s")
    print(f"no-op re-run:                                {noop:6.1f} s")
    print("stack memory on the instance:")
    for line in memory:
        print(f"  {line}")
    if not args.keep:
        instance.reset(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
