"""Zero downtime, measured: our blue/green deploy and rollback and a forced certificate renewal,
against a plain in-place `docker compose up -d` (with and without `--wait`), each under the
same constant load, on one fresh local instance serving HTTPS (certificates from a local
ACME server, pebble, as in the host tests).

    .venv/bin/python bench/zero_downtime.py [--rate 50] [--persistent 4] [--keep]

The load (onehost.local.loadgen) GETs /health/ over HTTPS through the instance's nginx: half the
requests on fresh connections, half from a few keep-alive clients that never retry (Python's
http.client on a kept connection): every connection nginx closes under them is a failed
request, which fresh connections cannot show. For each change it prints requests sent and
failed, for each kind of client apart, p50/p99 latency, the seconds the command took and the
seconds until the change showed (the new version answering, or the renewed certificate served).

Order: v1 deployed, v2 deployed and rolled back untimed (so the v2 image and release are on
the host for every timed change), then under load: deploy v1 -> v2, rollback v2 -> v1, a
forced renewal, and the plain path on the same host: both colours stopped, compose project
`plain` from the v1 release, nginx pointed at it, then `up -d` of the v2 release in place; v1
again, then `up -d --wait` of v2 in place.

The instance is bench/deploy.py's unless ONEHOST_BENCH_INSTANCE, ONEHOST_BENCH_SSH_PORT,
ONEHOST_BENCH_HTTP_PORT and ONEHOST_BENCH_HTTPS_PORT name another; ONEHOST_BENCH_IMAGE names
the app image repository (default timewarp).
"""

import argparse
import importlib.util
import json
import math
import os
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onehost.commands import (
    compose_commands,
    release,
    switch,
)
from onehost.local import docker_cli, instance
from onehost.local.loadgen import LoadGenerator, LoadResult, open_connection
from onehost.local.shell import CommandFailed, progress
from onehost.remote.deploys import run_deploy
from tests.host.acme import DIRECTORY_URL, AcmeServer

# The bench instance, its ports and new_image_from are bench/deploy.py's (one place for them).
_spec = importlib.util.spec_from_file_location("bench_deploy", Path(__file__).with_name("deploy.py"))
bench_deploy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_deploy)
BENCH_ENV = bench_deploy.BENCH_ENV
# Two benches on one Docker daemon need their own instance: ONEHOST_BENCH_* name it.
BENCH_ENV.update({name: os.environ[name.replace("ONEHOST_", "ONEHOST_BENCH_", 1)] for name in BENCH_ENV
                  if name.replace("ONEHOST_", "ONEHOST_BENCH_", 1) in os.environ})
inner = bench_deploy.inner

REPOSITORY = os.environ.get("ONEHOST_BENCH_IMAGE", "timewarp")
V1, V2 = f"{REPOSITORY}:bench-v1", f"{REPOSITORY}:bench-v2"
DOMAIN = "timewarp.test"
DATA_DIR = "/data"
RELEASES = f"{DATA_DIR}/releases"
EDGE_DIR = f"{DATA_DIR}/stacks/{switch.EDGE_PROJECT}"
UPSTREAM = f"{EDGE_DIR}/conf.d/{switch.UPSTREAM_FILE}"
PLAIN = "plain"
APP_PORT = 8000

PRE_ROLL_SECONDS = 2        # load before the command starts
SETTLE_SECONDS = 3          # load after the command ended and the change showed
CHANGE_SECONDS = 90         # how long after the command the change may take to show
COMMAND_SECONDS = 900       # any one deploy or rollback
LOAD_SECONDS = PRE_ROLL_SECONDS + COMMAND_SECONDS + CHANGE_SECONDS + SETTLE_SECONDS + 30


@dataclass
class Change:
    label: str
    result: LoadResult
    command_seconds: float
    until_change: float | None   # seconds from the command's start until the change showed

    @property
    def change_seconds(self) -> float:
        """The later of the command's end and the change showing (inf: it never did)."""
        return math.inf if self.until_change is None else max(self.command_seconds, self.until_change)


@dataclass
class Bench:
    config: instance.InstanceConfig
    data: dict[str, str]          # the deploy's data: the image comes on top
    roots: str                    # pebble's root CA, for the clients

    @property
    def url(self) -> str:
        return f"https://{DOMAIN}:{self.config.https_port}/health/"

    def deploy(self, deploy_file: str, data: dict[str, str]) -> None:
        run_deploy(deploy_file, {**self.data, **data}, environ=BENCH_ENV, capture=True,
                   timeout=COMMAND_SECONDS)

    def version(self) -> str | None:
        connection = open_connection(DOMAIN, self.config.https_port, 10,
                                     ssl.create_default_context(cafile=self.roots), "127.0.0.1")
        try:
            connection.request("GET", "/health/", headers={"Host": DOMAIN})
            body = connection.getresponse().read()
        except OSError:
            return None
        finally:
            connection.close()
        try:
            return json.loads(body).get("version")
        except ValueError:
            return None

    def wait_for_version(self, version: str, timeout: float = 120) -> None:
        instance.wait_until(lambda: self.version() == version, f"/health/ answering {version}", timeout)

    def serial(self) -> int:
        context = ssl.create_default_context(cafile=self.roots)
        with socket.create_connection(("127.0.0.1", self.config.https_port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
                return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


# --- the instance ------------------------------------------------------------------------

def point_nginx_at(config, target: str) -> None:
    """The layout before sockets: upstream.inc names a container, then nginx checks and reloads."""
    inner(config, *switch.write_upstream(f"{EDGE_DIR}/conf.d", target, APP_PORT))
    inner(config, *compose_commands.reload_nginx(switch.EDGE_PROJECT, f"{EDGE_DIR}/compose.yaml",
                                                 f"{EDGE_DIR}/stack.env"))


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


# --- one change under load -------------------------------------------------------------------

def under_load(label: str, bench: Bench, args, action: Callable[[], object],
               showed: Callable[[LoadGenerator], bool]) -> Change:
    """Start the load, run `action` (timed), keep the load until `showed` is true and
    SETTLE_SECONDS more (all bounded), stop it."""
    progress(f"{label}: under {args.rate:g} requests/s ({args.persistent} keep-alive clients, no retries)")
    load = LoadGenerator(bench.url, rate=args.rate, max_seconds=LOAD_SECONDS, persistent_clients=args.persistent,
                         persistent_retry=False, connect_to="127.0.0.1", ca_file=bench.roots).start()
    until_change = None
    try:
        time.sleep(PRE_ROLL_SECONDS)
        before = load.snapshot()
        if before["sent"] == 0 or before["failed"]:
            progress(f"warning: before the change {before['failed']} of {before['sent']} requests failed")
        started = time.monotonic()
        action()
        command_seconds = time.monotonic() - started
        deadline = time.monotonic() + CHANGE_SECONDS
        while time.monotonic() < deadline:
            if showed(load):
                until_change = time.monotonic() - started
                break
            time.sleep(0.05)
        time.sleep(SETTLE_SECONDS)   # the load goes on a little after the change
    finally:
        result = load.stop()
    change = Change(label, result, command_seconds, until_change)
    progress(f"{label}: command {command_seconds:.1f} s; {result.summary()}")
    return change


def version_answers(version: str) -> Callable[[LoadGenerator], bool]:
    return lambda load: version in load.snapshot()["versions"]


def ours_deploy(bench: Bench, args) -> Change:
    return under_load("ours: deploy v1 -> v2", bench, args, lambda: bench.deploy("deploy.py", {"image": V2}),
                      version_answers(release.image_tag(V2)))


def ours_rollback(bench: Bench, args) -> Change:
    return under_load("ours: rollback v2 -> v1", bench, args, lambda: bench.deploy("rollback.py", {}),
                      version_answers(release.image_tag(V1)))


def forced_renewal(bench: Bench, args) -> Change:
    serial = bench.serial()
    return under_load("ours: forced renewal", bench, args,
                      lambda: inner(bench.config, "/usr/local/sbin/onehost-certbot-renew", "--force-renewal"),
                      lambda _: bench.serial() != serial)


def plain_in_place(bench: Bench, args, wait: bool) -> Change:
    """The common approach: one compose project, `up -d` with the new image, in place."""
    config = bench.config
    v1_dir, v2_dir = release_dir_of(config, V1), release_dir_of(config, V2)
    for colour in switch.COLOURS:
        inner(config, *switch.stop_colour(colour, 10))
    inner(config, *plain(v1_dir, "up", "--detach", "--wait", "--wait-timeout", "120"))
    point_nginx_at(config, f"{PLAIN}-app-1")
    bench.wait_for_version(release.image_tag(V1))
    # v2's release.env names v2's pinned image and its APP_VERSION, which /health/ reports (the
    # compose file reads it as an env file too). Same project: compose recreates the container.
    flags = ["--detach", "--wait", "--wait-timeout", "120"] if wait else ["--detach"]
    return under_load(f"plain: compose up {' '.join(flags[:2])}", bench, args,
                      lambda: inner(config, *plain(v2_dir, "up", *flags)),
                      version_answers(release.image_tag(V2)))


# --- report ---------------------------------------------------------------------------------

def _seconds(value: float | None) -> str:
    return "never" if value is None or math.isinf(value) else f"{value:.1f}"


def report(changes: list[Change], noop_seconds: float) -> None:
    print(f"{'change':34} {'sent':>5} {'failed':>6} {'no-retry sent/failed':>21} {'fresh sent/failed':>18} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'command s':>9} {'showed s':>8}")
    for change in changes:
        result, kinds = change.result, change.result.by_kind
        print(f"{change.label:34} {result.sent:5d} {result.failed:6d} "
              f"{kinds['no_retry']['sent']:>14d}/{kinds['no_retry']['failed']:<6d} "
              f"{kinds['fresh']['sent']:>11d}/{kinds['fresh']['failed']:<6d} "
              f"{result.percentile(50):7.1f} {result.percentile(99):7.1f} "
              f"{change.command_seconds:9.1f} {_seconds(change.until_change):>8}")
    for change in changes:
        errors = ", ".join(f"{kind} x{count}" for kind, count in sorted(change.result.errors.items()))
        print(f"  {change.label}: versions {' -> '.join(change.result.versions) or '-'}"
              + (f"; errors {errors}" if errors else ""))
    print(f"a no-op re-run of our deploy (pyinfra's fixed cost) takes {noop_seconds:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="requests per second (default 50)")
    parser.add_argument("--persistent", type=int, default=4,
                        help="keep-alive clients (never retrying) sending half the requests (default 4)")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    config = instance.InstanceConfig.from_environment(BENCH_ENV)
    workdir = Path(tempfile.mkdtemp(prefix="onehost-bench-acme-"))
    acme = None
    try:
        bench_deploy.fresh_bench_instance(V1, V2)
        acme = AcmeServer(config.name, workdir)
        acme.start()
        data = {"tls": "letsencrypt", "server_names": json.dumps([DOMAIN]), "letsencrypt_email": f"ops@{DOMAIN}",
                "acme_server": DIRECTORY_URL, "acme_ca_bundle": str(acme.ca_bundle)}
        roots = workdir / "pebble-root.pem"
        bench = Bench(config, data, str(roots))
        progress("untimed: deploy v1 (certificate issued), deploy v2, roll back to v1")
        bench.deploy("deploy.py", {"image": V1})
        roots.write_text(acme.issuing_roots())
        bench.deploy("deploy.py", {"image": V2})
        bench.deploy("rollback.py", {})
        bench.wait_for_version(release.image_tag(V1))
        started = time.monotonic()
        bench.deploy("deploy.py", {"image": V1})   # v1 is live: changes nothing, costs what pyinfra costs
        noop_seconds = time.monotonic() - started

        changes = [ours_deploy(bench, args), ours_rollback(bench, args), forced_renewal(bench, args)]
        bench.wait_for_version(release.image_tag(V1))
        changes.append(plain_in_place(bench, args, wait=False))
        changes.append(plain_in_place(bench, args, wait=True))
        report(changes, noop_seconds)
    finally:
        if acme:
            acme.stop()
        if not args.keep:
            instance.reset(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
