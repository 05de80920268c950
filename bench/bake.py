"""Local bake timings and the image size.

    .venv/bin/python bench/bake.py [--cold]

With --cold, first rebuilds the instance base image from Debian packages (mmdebstrap) and
bakes on it, as on a fresh machine. Prints seconds for a bake with the base images cached
(`onehost bake --force`: Packer runs the pyinfra bake and cleanup, then a booted candidate must
pass the image suite), for the gate alone, for a cached bake (nothing changed: nothing rebuilt
or re-verified), and the sizes of the baked image and of the base image it starts from.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onehost.local import (
    base_images,
    docker_cli,
)
from onehost.local.bake import bake_local_image, verify_candidate


def seconds(step) -> tuple[float, object]:
    start = time.monotonic()
    result = step()
    return time.monotonic() - start, result


def size_mb(reference: str) -> float:
    return int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", reference],
                              capture_output=True, text=True, check=True).stdout) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true",
                        help="also time a bake from a freshly built base image")
    args = parser.parse_args()
    if args.cold:
        base_seconds, base = seconds(lambda: base_images.ensure("instance", force=True))
        cold_seconds, _ = seconds(bake_local_image)
        print(f"cold: base image from Debian packages {base_seconds:6.1f} s, then bake "
              f"{cold_seconds:6.1f} s")
    base = base_images.ensure("instance")
    previous = docker_cli.image_id(bake_local_image())
    warm, reference = seconds(lambda: bake_local_image(force=True))
    if previous and previous != docker_cli.image_id(reference):
        # The image the forced bake replaced, unless something still uses it.
        subprocess.run(["docker", "image", "rm", previous], capture_output=True)
    gate, _ = seconds(lambda: verify_candidate(reference))
    cached, _ = seconds(bake_local_image)
    print(f"bake, base images cached (Packer + bake + cleanup + gate): {warm:6.1f} s")
    print(f"  of which the gate (boot a candidate, image suite):       {gate:6.1f} s")
    print(f"bake, nothing changed (cached):                            {cached:6.1f} s")
    print(f"image {reference}: {size_mb(reference):.0f} MB "
          f"(base {base}: {size_mb(base):.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
