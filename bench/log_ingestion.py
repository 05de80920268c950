"""CloudWatch Logs ingestion per request, measured on a fresh local instance: the bytes of the
log lines that requests through nginx add to the files the CloudWatch agent ships, and what
the agent would ship of them with each setting of `cloudwatch_container_logs`.

    .venv/bin/python bench/log_ingestion.py [--requests 2000] [--rate 15] [--idle 30] [--keep]

The instance is bench/deploy.py's unless ONEHOST_INSTANCE, ONEHOST_SSH_PORT, ONEHOST_HTTP_PORT
and ONEHOST_HTTPS_PORT name another; it boots the baked image (baked first when its inputs
changed), or ONEHOST_INSTANCE_IMAGE when set. The example app is deployed, then:

1. idle: no requests for --idle seconds, to measure what the host writes on its own;
2. load: --requests requests over one keep-alive connection at --rate a second (below the
   API's rate limit, so none is refused), with a browser's User-Agent and Referer: 80% list
   events, 10% read one, 5% create one, 5% ask for one that does not exist (404);
3. the lines each collected file gained (Docker's json-file logs of every container, syslog,
   the auth log: the agent's collect_list in onehost/commands/cloudwatch_config.py) are read back and
   passed through each setting's filters the way the agent decides (agent_publishes).

An event is counted as its message's UTF-8 bytes (the agent ships a line without its newline)
plus 26 bytes, the per-event size PutLogEvents counts a batch by
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html):
a ceiling, if billing counts the message alone. The free tier is 5 GB of log data a month
(https://aws.amazon.com/cloudwatch/pricing/); the break-even rate is the average request rate
at which a 730-hour month reaches it, after the idle host's own lines.
"""

import argparse
import http.client
import importlib.util
import json
import os
import random
import re
import runpy
import shlex
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onehost.commands import cloudwatch_config
from onehost.local import (
    app_image,
    base_images,
    instance,
)
from onehost.local.bake import bake_local_image
from onehost.local.shell import CommandFailed, progress
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import run_deploy

# The bench instance, its ports and inner() are bench/deploy.py's (one place for them).
_spec = importlib.util.spec_from_file_location("bench_deploy", Path(__file__).with_name("deploy.py"))
bench_deploy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_deploy)
inner = bench_deploy.inner
IMAGE = "timewarp:bench-logs"
GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))

FREE_BYTES_A_MONTH = 5 * 10**9      # 5 GB; as 10**9 bytes, the smaller reading of "GB"
MONTH_SECONDS = 730 * 3600          # the cost table's month
EVENT_OVERHEAD_BYTES = 26
# What a browser sends (Firefox 128 on Windows), so nginx's line has a real user agent's length.
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
REFERER = "https://app.example.com/events"
SETTLE_SECONDS = 2                  # the files have stopped growing for this long
SETTLE_TIMEOUT = 30

ALL, NO_SAMPLE, EVERY_REQUEST = "all", "errors, no sample", "errors, every request"
SETTINGS = {
    ALL: {"cloudwatch_container_logs": "all"},
    "errors, 1 in 16 (default)": {"cloudwatch_container_logs": "errors", "cloudwatch_request_sample": 16},
    "errors, 1 in 256": {"cloudwatch_container_logs": "errors", "cloudwatch_request_sample": 256},
    NO_SAMPLE: {"cloudwatch_container_logs": "errors", "cloudwatch_request_sample": 0},
}
# Not reported; what a sample's expected figure is computed from.
EVERY_REQUEST_SETTING = {"cloudwatch_container_logs": "errors", "cloudwatch_request_sample": 1}
# The instance shares the machine's kernel: its syslog gets kernel lines about every container
# on the machine (veth, bridges), which an EC2 host's does not.
KERNEL_SOURCE = "syslog: kernel (machine's)"
KERNEL_LINE = re.compile(r"^\S+ \S+ kernel: ")


def bench_environ() -> dict[str, str]:
    """bench/deploy.py's instance, unless the environment names another (and its image)."""
    environ = {name: os.environ.get(name, value) for name, value in bench_deploy.BENCH_ENV.items()}
    if os.environ.get("ONEHOST_INSTANCE_IMAGE"):
        environ["ONEHOST_INSTANCE_IMAGE"] = os.environ["ONEHOST_INSTANCE_IMAGE"]
    return environ


# --- the files the agent collects ------------------------------------------------------

def collected() -> dict[str, str]:
    """stream -> file path or glob, as the agent's config names them."""
    return dict(GROUP_DATA["cloudwatch_log_files"])


def sizes(config) -> dict[str, int]:
    """Every collected file and its size in bytes, read inside the instance."""
    globs = " ".join(collected().values())
    listing = inner(config, "sh", "-c", f"for f in {globs}; do [ -f \"$f\" ] && stat -c '%s %n' \"$f\"; done; true")
    return {path: int(size) for size, path in (line.split(" ", 1) for line in listing.splitlines())}


def wait_until_quiet(config) -> dict[str, int]:
    """Sizes once no collected file has grown for SETTLE_SECONDS (bounded by SETTLE_TIMEOUT)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last, stable_since = sizes(config), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sizes(config)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= SETTLE_SECONDS:
            return now
    progress("warning: the log files were still growing; measuring what is there")
    return last


def added_lines(config, before: dict[str, int]) -> dict[str, list[str]]:
    """path -> the complete lines each file gained since `before` (a new file: all of it)."""
    found = {}
    for path, size in sizes(config).items():
        offset = before.get(path, 0)
        if size < offset:
            raise CommandFailed(f"{path} shrank (Docker rotated it): measure fewer requests")
        text = inner(config, "sh", "-c", f"tail -c +{offset + 1} {shlex.quote(path)}")
        lines = text.split("\n")
        found[path] = [line for line in lines[:-1]]   # the last piece is a partial line or ""
    return found


def container_names(config) -> dict[str, str]:
    """Docker container id -> name, inside the instance."""
    listing = inner(config, "docker", "ps", "--all", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    return dict(line.split(" ", 1) for line in listing.splitlines())


def source_of(path: str, names: dict[str, str]) -> str:
    """The stream a file ships to, and for a container log which container (colours and
    compose numbers folded: app, nginx, postgres)."""
    for stream, pattern in collected().items():
        if "*" not in pattern and path == pattern:
            return stream
    container_id = path.rsplit("/", 1)[-1].removesuffix("-json.log")
    name = names.get(container_id, container_id[:12])
    for short in ("nginx", "postgres", "app"):
        if short in name:
            return f"{cloudwatch_config.CONTAINERS_STREAM}: {short}"
    return f"{cloudwatch_config.CONTAINERS_STREAM}: {name}"


# --- what each setting ships --------------------------------------------------------------

def filters_by_path(setting: dict) -> dict[str, list[dict]]:
    """file pattern -> the agent's filters for it under `setting`."""
    config = cloudwatch_config.render_from({**GROUP_DATA, **setting})
    return {entry["file_path"]: entry.get("filters", [])
            for entry in config["logs"]["logs_collected"]["files"]["collect_list"]}


def filters_for(path: str, by_pattern: dict[str, list[dict]]) -> list[dict]:
    for pattern, filters in by_pattern.items():
        if path == pattern or ("*" in pattern and Path(path).match(pattern)):
            return filters
    raise CommandFailed(f"{path} matches no collected file pattern")


def shipped(lines_by_path: dict[str, list[str]], names: dict[str, str], setting: dict) -> dict[str, Counter]:
    """source -> Counter(events=..., bytes=...) that the agent ships under `setting`."""
    by_pattern = filters_by_path(setting)
    totals: dict[str, Counter] = defaultdict(Counter)
    for path, lines in lines_by_path.items():
        filters = filters_for(path, by_pattern)
        source = source_of(path, names)
        for line in lines:
            if cloudwatch_config.agent_publishes(filters, line):
                line_source = KERNEL_SOURCE if source == "syslog" and KERNEL_LINE.match(line) else source
                totals[line_source]["events"] += 1
                totals[line_source]["bytes"] += len(line.encode()) + EVENT_OVERHEAD_BYTES
    return totals


# --- the requests ---------------------------------------------------------------------------

def drive(config, requests: int, rate: float) -> tuple[Counter, float]:
    """`requests` requests at `rate` a second over one keep-alive connection; statuses, seconds."""
    rng = random.Random(13)
    statuses: Counter = Counter()
    headers = {"User-Agent": USER_AGENT, "Referer": REFERER, "Accept": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", config.http_port, timeout=10)
    created: list[int] = []
    started = time.monotonic()
    try:
        for number in range(requests):
            time.sleep(max(0.0, started + number / rate - time.monotonic()))
            pick = rng.random()
            body = None
            if pick < 0.05:
                method, path = "POST", "/api/events/"
                body = json.dumps({"title": f"bench event {number}", "description": "measured",
                                   "happened_at": "2026-01-01T12:00:00Z"})
            elif pick < 0.10:
                method, path = "GET", f"/api/events/{900000 + number}/"
            elif pick < 0.20 and created:
                method, path = "GET", f"/api/events/{rng.choice(created)}/"
            else:
                method, path = "GET", "/api/events/"
            send = {**headers, **({"Content-Type": "application/json"} if body else {})}
            try:
                connection.request(method, path, body=body, headers=send)
                response = connection.getresponse()
                payload = response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", config.http_port, timeout=10)
                statuses["connection error"] += 1
                continue
            statuses[response.status] += 1
            if method == "POST" and response.status == 201:
                created.append(json.loads(payload)["id"])
    finally:
        connection.close()
    return statuses, time.monotonic() - started


# --- report ---------------------------------------------------------------------------------

def break_even(bytes_per_request: float, idle_bytes_per_second: float) -> float:
    """Average requests a second at which a month's ingestion reaches the free tier."""
    room = FREE_BYTES_A_MONTH / MONTH_SECONDS - idle_bytes_per_second
    return float("inf") if bytes_per_request <= 0 else max(0.0, room) / bytes_per_request


def per_request(load: dict[str, Counter], idle: dict[str, Counter], requests: int,
                idle_seconds: float, load_seconds: float) -> dict[str, tuple[float, float]]:
    """source -> (lines, bytes) shipped per request, the idle host's share of the load window
    subtracted; the test machine's kernel lines left out."""
    figures = {}
    for source in sorted(set(load) | set(idle)):
        if source == KERNEL_SOURCE:
            continue
        share = load_seconds / idle_seconds
        figures[source] = tuple(max(0.0, load[source][kind] - idle[source][kind] * share) / requests
                                for kind in ("events", "bytes"))
    return figures


def idle_bytes_per_second(idle: dict[str, Counter], idle_seconds: float) -> float:
    return sum(counts["bytes"] for source, counts in idle.items() if source != KERNEL_SOURCE) / idle_seconds


def report(load: dict[str, dict[str, Counter]], idle: dict[str, dict[str, Counter]], requests: int,
           idle_seconds: float, load_seconds: float, statuses: Counter) -> None:
    """Per setting and source: lines and bytes shipped per request, the total, its break-even
    rate and a month at 10 requests/s. "all" ships every line, so its figures are also what the
    requests wrote on the host. A sample's figure depends on which random ids came up; the
    expected one counts each request line at 1/sample."""
    print(f"requests: {requests} in {load_seconds:.0f} s; statuses "
          + ", ".join(f"{status} x{count}" for status, count in sorted(statuses.items(), key=str)))
    kernel = idle[ALL][KERNEL_SOURCE]["bytes"] / idle_seconds
    idle_rate = idle_bytes_per_second(idle[ALL], idle_seconds)
    print(f"idle host: {idle_rate:.1f} bytes/s shipped (subtracted below; left out: {kernel:.1f} bytes/s "
          "of kernel lines, which a test instance's syslog gets from the machine's shared kernel)")
    figures = {label: per_request(load[label], idle[label], requests, idle_seconds, load_seconds)
               for label in load}
    for label, setting in SETTINGS.items():
        print(f"\n{label}: shipped per request (bytes incl. {EVENT_OVERHEAD_BYTES} a line)")
        for source, (events, size) in figures[label].items():
            print(f"  {source:22} {events:6.3f} lines  {size:8.1f} bytes")
        total = sum(size for _, size in figures[label].values())
        totals = [("measured", total)]
        sample = setting.get("cloudwatch_request_sample")
        if sample:
            errors = sum(size for _, size in figures[NO_SAMPLE].values())
            every = sum(size for _, size in figures[EVERY_REQUEST].values())
            totals.append(("expected", errors + (every - errors) / sample))
        for kind, size in totals:
            rate = break_even(size, idle_rate)
            month_at_10 = (size * 10 + idle_rate) * MONTH_SECONDS / 10**9
            print(f"  total, {kind:8} {size:8.1f} bytes/request; break-even {rate:6.1f} requests/s "
                  f"({rate * MONTH_SECONDS / 1e6:.0f} M a month); at 10 requests/s {month_at_10:.2f} GB a month")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests to send (default 2000)")
    parser.add_argument("--rate", type=float, default=15,
                        help="requests a second, below the API's rate limit (default 15)")
    parser.add_argument("--idle", type=float, default=30, help="seconds of the idle window (default 30)")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    environ = bench_environ()
    config = instance.InstanceConfig.from_environment(environ)
    progress(f"instance {config.name} on {config.url}")
    bases = base_images.ensure_all()
    if "ONEHOST_INSTANCE_IMAGE" not in environ:
        bake_local_image()
    instance.reset(config)
    try:
        instance.up(config)
        app_image.build(REPO_ROOT / "example", IMAGE, base_image=bases["python"])
        run_deploy("deploy.py", {"image": IMAGE}, environ=environ, capture=True, timeout=900)
        status, _ = instance.health(config)
        if status != 200:
            raise CommandFailed(f"/health/ answered {status} after the deploy")
        names = container_names(config)

        progress(f"idle: {args.idle:g} s without requests")
        before_idle = wait_until_quiet(config)
        idle_started = time.monotonic()
        time.sleep(args.idle)
        idle_lines = added_lines(config, before_idle)
        idle_seconds = time.monotonic() - idle_started

        progress(f"load: {args.requests} requests at {args.rate:g} a second")
        before_load = sizes(config)
        statuses, load_seconds = drive(config, args.requests, args.rate)
        wait_until_quiet(config)
        load_lines = added_lines(config, before_load)
        names = {**names, **container_names(config)}

        settings = {**SETTINGS, EVERY_REQUEST: EVERY_REQUEST_SETTING}
        load = {label: shipped(load_lines, names, setting) for label, setting in settings.items()}
        idle = {label: shipped(idle_lines, names, setting) for label, setting in settings.items()}
        report(load, idle, args.requests, idle_seconds, load_seconds, statuses)
    finally:
        if not args.keep:
            instance.reset(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
