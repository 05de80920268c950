"""Zero downtime, measured: our blue/green deploy and rollback against a plain in-place
`docker compose up -d`, each under the same constant load, on one fresh local instance.

    .venv/bin/python bench/zero_downtime.py [--rate 50] [--persistent 4] [--keep]

The load (onehost.local.loadgen) GETs /health/ through the instance's nginx: half the requests on
fresh connections, half from a few keep-alive clients that retry once when a reused
connection was closed before an answer (RFC 9112 section 9.3.1). For each change it prints
requests sent, failed, retried, p50/p99 latency, the seconds the command took and the
seconds until answers showed the new version; then our deploy time against the plain one
and the rollback time, beside the goals: 0 failed for ours, our deploy within 1.5x of
plain, rollback within 10 s. The "change seconds" compared are the later of the command's
end and the first answer of the new version (an in-place `up -d` returns before its app
listens).

Order: v1 deployed, v2 deployed and rolled back untimed (so the v2 image and release are
on the host for every timed change), then under load: deploy v1 -> v2, rollback v2 -> v1,
and the plain path on the same host: both colours stopped, compose project `plain` from
the v1 release, nginx pointed at it, then `up -d` of the v2 release in place.
"""

import argparse
import importlib.util
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onehost.commands import (
    compose_commands,
    release,
    switch,
)
from onehost.local import docker_cli, instance
from onehost.local.loadgen import LoadGenerator, LoadResult
from onehost.local.shell import CommandFailed, progress
from onehost.remote.deploys import run_deploy

# The bench instance, its ports and new_image_from are bench/deploy.py's (one place for them).
_spec = importlib.util.spec_from_file_location("bench_deploy", Path(__file__).with_name("deploy.py"))
bench_deploy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_deploy)
BENCH_ENV = bench_deploy.BENCH_ENV
inner = bench_deploy.inner

V1, V2 = "timewarp:bench-v1", "timewarp:bench-v2"
DATA_DIR = "/data"
RELEASES = f"{DATA_DIR}/releases"
UPSTREAM = f"{DATA_DIR}/stacks/{switch.EDGE_PROJECT}/conf.d/{switch.UPSTREAM_FILE}"
PLAIN = "plain"
APP_PORT = 8000

PRE_ROLL_SECONDS = 2        # load before the command starts
SETTLE_SECONDS = 3          # load after the command ended and the new version answered
NEW_VERSION_SECONDS = 90    # how long after the command the new version may take to answer
COMMAND_SECONDS = 900       # any one deploy or rollback
LOAD_SECONDS = PRE_ROLL_SECONDS + COMMAND_SECONDS + NEW_VERSION_SECONDS + SETTLE_SECONDS + 30


@dataclass
class Change:
    label: str
    new_version: str
    result: LoadResult
    command_started: float      # time.monotonic()
    command_seconds: float

    @property
    def until_new_version(self) -> float | None:
        """Seconds from the command's start to the first answer of the new version."""
        seen = self.result.version_seen.get(self.new_version)
        return None if seen is None else seen[0] - self.command_started

    @property
    def change_seconds(self) -> float:
        """The later of the command's end and the new version answering (inf: it never did)."""
        until = self.until_new_version
        return math.inf if until is None else max(self.command_seconds, until)


# --- the instance ------------------------------------------------------------------------

def point_nginx_at(config, target: str) -> None:
    """What the switch does: replace upstream.inc atomically, then check and reload nginx."""
    edge = f"{DATA_DIR}/stacks/{switch.EDGE_PROJECT}"
    inner(config, *switch.write_upstream(f"{edge}/conf.d", target, APP_PORT))
    inner(config, *compose_commands.reload_nginx(switch.EDGE_PROJECT, f"{edge}/compose.yaml",
                                                 f"{edge}/stack.env"))


def plain(release_dir: str, *arguments: str) -> list[str]:
    """The plain project, from a release directory's files."""
    return compose_commands.compose(PLAIN, f"{release_dir}/compose.yaml",
                                    f"{release_dir}/release.env") + list(arguments)


def release_dir_of(config, image: str) -> str:
    """The release directory on the host whose release.env runs `image` (pinned by id)."""
    image_id = docker_cli.image_id(image)
    if not image_id:
        raise CommandFailed(f"no local image {image}")
    pinned = release.pinned_reference(image, image_id)
    found = inner(config, "sh", "-c", 'grep -lx "APP_IMAGE=$1" "$2"/*/release.env || true',
                  "find-release", pinned, RELEASES).split()
    if not found:
        raise CommandFailed(f"no release on {config.name} runs {pinned}")
    return found[0].rsplit("/", 1)[0]


def wait_for_version(config, version: str, timeout: float = 120) -> None:
    def serving():
        status, body = instance.health(config)
        return status == 200 and isinstance(body, dict) and body.get("version") == version
    instance.wait_until(serving, f"/health/ answering {version} on {config.url}", timeout)


def deploy(deploy_file: str, data: dict[str, str]) -> None:
    run_deploy(deploy_file, data, environ=BENCH_ENV, capture=True, timeout=COMMAND_SECONDS)


# --- one change under load -------------------------------------------------------------------

def under_load(label: str, config, args, new_version: str, action) -> Change:
    """Start the load, run `action` (timed), keep the load until the new version answered
    and SETTLE_SECONDS more (all bounded), stop it."""
    progress(f"{label}: under {args.rate:g} requests/s ({args.persistent} keep-alive clients)")
    load = LoadGenerator(f"{config.url}/health/", rate=args.rate, max_seconds=LOAD_SECONDS,
                         persistent_clients=args.persistent).start()
    try:
        time.sleep(PRE_ROLL_SECONDS)
        before = load.snapshot()
        if before["sent"] == 0 or before["failed"]:
            progress(f"warning: before the change {before['failed']} of {before['sent']} requests failed")
        started = time.monotonic()
        action()
        command_seconds = time.monotonic() - started
        deadline = time.monotonic() + NEW_VERSION_SECONDS
        while new_version not in load.snapshot()["versions"] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(SETTLE_SECONDS)   # the load goes on a little after the change
    finally:
        result = load.stop()
    change = Change(label, new_version, result, started, command_seconds)
    progress(f"{label}: command {command_seconds:.1f} s; {result.summary()}")
    return change


def ours_deploy(config, args) -> Change:
    return under_load("ours: deploy v1 -> v2", config, args, release.image_tag(V2),
                      lambda: deploy("deploy.py", {"image": V2}))


def ours_rollback(config, args) -> Change:
    return under_load("ours: rollback v2 -> v1", config, args, release.image_tag(V1),
                      lambda: deploy("rollback.py", {}))


def plain_in_place(config, args) -> Change:
    """The common approach: one compose project, `up -d` with the new image, in place."""
    v1_dir, v2_dir = release_dir_of(config, V1), release_dir_of(config, V2)
    progress(f"plain: stopping both colours, project {PLAIN} from {v1_dir}")
    for colour in switch.COLOURS:
        inner(config, *switch.stop_colour(colour, 10))
    inner(config, *plain(v1_dir, "up", "--detach", "--wait", "--wait-timeout", "120"))
    point_nginx_at(config, f"{PLAIN}-app-1")
    wait_for_version(config, release.image_tag(V1))
    # v2's release.env names v2's pinned image; its compose file reads v2's app.env, whose
    # APP_VERSION is what /health/ reports. Same project: compose recreates the container.
    return under_load("plain: compose up -d in place", config, args, release.image_tag(V2),
                      lambda: inner(config, *plain(v2_dir, "up", "--detach")))


def restore_colours(config, live_upstream: str) -> None:
    """Remove the plain project; start the colour upstream.inc named before, point nginx back."""
    inner(config, "docker", "compose", "--project-name", PLAIN, "down", "--timeout", "10")
    colour = switch.colour_in_upstream(live_upstream)
    if colour is None:
        progress(f"warning: no colour in the saved upstream {live_upstream.strip()!r}; left as is")
        return
    current = inner(config, "readlink", "-f", f"{RELEASES}/current").strip()
    inner(config, *switch.start_colour(colour, current))
    point_nginx_at(config, switch.container(colour))
    wait_for_version(config, release.image_tag(V1))
    progress(f"restored {switch.project(colour)} ({current}) behind nginx")


# --- report ---------------------------------------------------------------------------------

def _seconds(value: float | None) -> str:
    return "never" if value is None or math.isinf(value) else f"{value:.1f}"


def report(changes: list[Change], ours: Change, rollback: Change, plain: Change,
           noop_seconds: float) -> None:
    print(f"{'change':32} {'sent':>5} {'failed':>6} {'retried':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'command s':>9} {'new version s':>13}")
    for change in changes:
        result = change.result
        print(f"{change.label:32} {result.sent:5d} {result.failed:6d} {result.retried:7d} "
              f"{result.percentile(50):7.1f} {result.percentile(99):7.1f} "
              f"{change.command_seconds:9.1f} {_seconds(change.until_new_version):>13}")
    for change in changes:
        kinds = ", ".join(f"{kind}: {counts['sent']} sent, {counts['failed']} failed, "
                          f"{counts['retried']} retried" for kind, counts in change.result.by_kind.items())
        errors = ", ".join(f"{kind} x{count}" for kind, count in sorted(change.result.errors.items()))
        print(f"  {change.label}: {kinds}; versions {' -> '.join(change.result.versions) or '-'}"
              + (f"; errors {errors}" if errors else ""))

    def goal(what: str, figure: str, target: str, met: bool) -> None:
        print(f"{what:46} {figure:>10}   goal {target:8} {'met' if met else 'MISSED'}")

    our_failed = ours.result.failed + rollback.result.failed
    ratio = ours.change_seconds / plain.change_seconds if plain.change_seconds else math.inf
    goal("failed requests, ours (deploy + rollback)", str(our_failed), "0", our_failed == 0)
    goal("our deploy / plain in place (change seconds)", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5)
    print(f"  change seconds: ours {_seconds(ours.change_seconds)}, plain {_seconds(plain.change_seconds)}; "
          f"a no-op re-run of our deploy (pyinfra's fixed cost) takes {noop_seconds:.1f} s")
    goal("rollback (command seconds)", f"{rollback.command_seconds:.1f} s", "<= 10 s",
         rollback.command_seconds <= 10)
    print(f"plain in place, for comparison: {plain.result.failed} of {plain.result.sent} requests failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="requests per second (default 50)")
    parser.add_argument("--persistent", type=int, default=4,
                        help="keep-alive clients sending half the requests (default 4)")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    config = instance.InstanceConfig.from_environment(bench_deploy.BENCH_ENV)
    try:
        bench_deploy.fresh_bench_instance(V1, V2)
        progress("untimed: deploy v1, deploy v2, roll back to v1 (both images and releases on the host)")
        deploy("deploy.py", {"image": V1})
        deploy("deploy.py", {"image": V2})
        deploy("rollback.py", {})
        wait_for_version(config, release.image_tag(V1))
        started = time.monotonic()
        deploy("deploy.py", {"image": V1})   # v1 is live: changes nothing, costs what pyinfra costs
        noop_seconds = time.monotonic() - started

        ours = ours_deploy(config, args)
        rollback = ours_rollback(config, args)
        wait_for_version(config, release.image_tag(V1))
        live_upstream = inner(config, "cat", UPSTREAM)
        try:
            plain = plain_in_place(config, args)
        finally:
            if args.keep:
                restore_colours(config, live_upstream)
        report([ours, rollback, plain], ours, rollback, plain, noop_seconds)
    finally:
        if not args.keep:
            instance.reset(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
