"""Backup figures on a fresh local instance, with S3 and CloudWatch served by moto.

    .venv/bin/python bench/backup.py [--rows 1000000] [--keep]

Fills the database with --rows events, then prints the seconds of a bare `pg_dump -Fc` (to
/dev/null, inside the PostgreSQL container, as one would run it by hand), of the same bare dump
made the way onehost-backup makes it (zstd, the host's pg_dump through the container's socket),
of onehost-backup's whole run (that dump written to the disk and read back at once by pg_restore's
check, the SHA-256 and the S3 upload; the manifest; heartbeat) and of a checked restore
(download, verify, restore into a scratch database, compare row counts), and the ratios of our
backup to both bare dumps. The bare dumps and the run are timed --repeat times in turn
(the medians are printed: other work on the machine moves single figures by a second);
--baseline FILE times another onehost-backup (e.g. `git show HEAD~1:deploy/rootfs/...`) in the
same rounds, on the same database and moto. With --media-files N it also puts N files of 100 KB in
/data/media first and times a second run, whose media are unchanged (copied inside S3).

The instance is bench/deploy.py's; ONEHOST_BENCH_INSTANCE, ONEHOST_BENCH_SSH_PORT,
ONEHOST_BENCH_HTTP_PORT and ONEHOST_BENCH_HTTPS_PORT give it another name and ports.
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from bench.deploy import BENCH_ENV, fresh_bench_instance
from onehost.local import instance
from onehost.local.instance import wait_until
from onehost.remote.deploys import run_deploy
from tests.moto_server import FAKE_CREDENTIALS, moto_server, reverse_tunnel, write_credentials_file
from tests.tools import load_host_script

BUCKET = "bench-backups"
BASELINE = "/usr/local/sbin/onehost-backup-baseline.py"
BARE = "docker exec data-postgres-1 pg_dump --format=custom --no-owner -U timewarp timewarp > /dev/null"
tool = load_host_script("onehost-backup.py", "onehost_backup")


def dump_as_ours_command(config) -> str:
    """onehost-backup's own dump command, through the container's socket, into /dev/null."""
    pid = inner(config, "docker", "inspect", "--format", "{{.State.Pid}}", tool.POSTGRES_CONTAINER).stdout.strip()
    settings = tool.Settings(bucket=BUCKET, database="timewarp", db_user="timewarp", host=config.name)
    return shlex.join(tool.dump_command(settings, f"/proc/{pid}/root/{tool.CONTAINER_SOCKET_DIR}")) + " > /dev/null"
FILL = ("INSERT INTO events_event (title, description, happened_at, created_at, updated_at) "
        "SELECT 'Event ' || n, repeat('x', 40) || n, now() - n * interval '1 minute', now(), now() "
        "FROM generate_series(1, {rows}) AS n")


def inner(config, *command: str) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", "exec", config.name, *command], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed on {config.name} (exit {result.returncode}):\n"
                         f"{(result.stdout + result.stderr).strip()[-2000:]}")
    return result


def timed(config, *command: str, cpu: list | None = None) -> float:
    """Seconds the command took; with `cpu`, also appends the CPU seconds (user + system) of the
    command and every process it waited for on the instance (the PostgreSQL backend runs in the
    container, under the instance's dockerd, and so does pg_dump in a bare `docker exec` dump; the
    host's pg_dump, in "bare as ours" and in our run, is counted here, so the difference between
    those two is what ours adds, whatever else the machine is doing)."""
    start = time.monotonic()
    if cpu is None:
        inner(config, *command)
    else:
        shell = 'TIMEFORMAT="%3U %3S"; { time "$@" > /dev/null 2>&1; } 2>&1'
        user, system = inner(config, "bash", "-c", shell, "_", *command).stdout.split()[-2:]
        cpu.append(float(user) + float(system))
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="events to fill in (default 1000000)")
    parser.add_argument("--media-files", type=int, default=0, help="files of 100 KB in /data/media (default 0)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of bare dump and run (default 3)")
    parser.add_argument("--baseline", type=Path, help="another onehost-backup to time in the same rounds")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    BENCH_ENV.update({name: os.environ[name.replace("ONEHOST_", "ONEHOST_BENCH_", 1)] for name in BENCH_ENV
                      if name.replace("ONEHOST_", "ONEHOST_BENCH_", 1) in os.environ})
    again = None
    config = fresh_bench_instance("timewarp:bench-v1", "timewarp:bench-v2")
    credentials = write_credentials_file(Path(tempfile.mkdtemp(prefix="onehost-bench-aws-")) / "credentials")
    try:
        with moto_server() as endpoint:
            port = endpoint.rsplit(":", 1)[1]
            boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1",
                         aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            tunnel = reverse_tunnel(str(config.ssh_config), config.name, port)
            try:
                wait_until(lambda: subprocess.run(["docker", "exec", config.name, "curl", "-sf", "-o", "/dev/null",
                                                   f"{endpoint}/moto-api/"]).returncode == 0, "moto", 20)
                run_deploy("deploy.py", {"image": "timewarp:bench-v1", "backup_bucket": BUCKET,
                                         "aws_endpoint_url": endpoint,
                                         "backup_aws_credentials": str(credentials)},
                           environ=BENCH_ENV, capture=True, timeout=900)
                psql = ["docker", "exec", "data-postgres-1", "psql", "-U", "timewarp", "-d", "timewarp", "-c"]
                filling = timed(config, *psql, FILL.format(rows=args.rows))
                size = inner(config, *psql[:-1], "-tAc", "SELECT pg_size_pretty(pg_database_size('timewarp'))").stdout
                if args.baseline:
                    subprocess.run(["docker", "cp", str(args.baseline), f"{config.name}:{BASELINE}"], check=True)
                as_ours = dump_as_ours_command(config)   # the container keeps its pid through the rounds
                rounds = {"bare": [], "bare as ours": [], "ours": [], "baseline": []}
                cpu = {name: [] for name in rounds}
                for _ in range(args.repeat):
                    rounds["bare"].append(timed(config, "sh", "-c", BARE, cpu=cpu["bare"]))
                    rounds["bare as ours"].append(timed(config, "sh", "-c", as_ours, cpu=cpu["bare as ours"]))
                    rounds["ours"].append(timed(config, "/usr/local/sbin/onehost-backup", "run", cpu=cpu["ours"]))
                    if args.baseline:
                        rounds["baseline"].append(timed(config, "python3", BASELINE, "run", cpu=cpu["baseline"]))
                bare, ours = statistics.median(rounds["bare"]), statistics.median(rounds["ours"])
                bare_as_ours = statistics.median(rounds["bare as ours"])
                if args.media_files:
                    inner(config, "sh", "-c", f"mkdir -p /data/media/bench && for n in $(seq {args.media_files}); "
                                              "do head -c 100000 /dev/urandom > /data/media/bench/$n.bin; done")
                    with_media = timed(config, "/usr/local/sbin/onehost-backup", "run")
                if args.media_files:
                    again = timed(config, "/usr/local/sbin/onehost-backup", "run")
                restore = timed(config, "/usr/local/sbin/onehost-backup", "restore")
            finally:
                tunnel.terminate()
    finally:
        if not args.keep:
            instance.reset(config)
    print(f"database: {args.rows} events, {size.strip()} (filled in {filling:.1f} s)")
    print(f"bare pg_dump -Fc:                                  {bare:6.1f} s")
    print(f"bare pg_dump as ours (zstd, through the socket):   {bare_as_ours:6.1f} s")
    print(f"onehost-backup run (dump, verify, upload, beat):   {ours:6.1f} s   ({ours / bare:.2f}x bare, "
          f"{ours / bare_as_ours:.2f}x bare as ours)")
    if rounds["baseline"]:
        baseline = statistics.median(rounds["baseline"])
        print(f"{args.baseline.name} run:  {baseline:6.1f} s   ({baseline / bare:.2f}x bare)")
    print("CPU seconds on the instance outside the PostgreSQL container, the host's pg_dump included (median): "
          + ", ".join(f"{name} {statistics.median(values):.2f}" for name, values in cpu.items() if values))
    print("rounds (s): " + "; ".join(f"{name} {', '.join(f'{value:.2f}' for value in values)}"
                                     for name, values in rounds.items() if values))
    if again is not None:
        print(f"with {args.media_files} media files of 100 KB (sent):  {with_media:6.1f} s")
        print(f"again, media unchanged (copied in S3):             {again:6.1f} s")
    print(f"onehost-backup restore (download, verify, scratch restore, counts): {restore:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
