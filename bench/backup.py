"""Backup figures on a fresh local instance, with S3 and CloudWatch served by moto.

    .venv/bin/python bench/backup.py [--rows 1000000] [--keep]

Fills the database with --rows events, then prints the seconds of a bare `pg_dump -Fc` (to
/dev/null, inside the PostgreSQL container), of onehost-backup's whole run (dump, verify,
upload to S3, heartbeat) and of a checked restore (download, verify, restore into a scratch
database, compare row counts), and the ratio of our backup to the bare dump.
"""

import argparse
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

BUCKET = "bench-backups"
FILL = ("INSERT INTO events_event (title, description, happened_at, created_at, updated_at) "
        "SELECT 'Event ' || n, repeat('x', 40) || n, now() - n * interval '1 minute', now(), now() "
        "FROM generate_series(1, {rows}) AS n")


def inner(config, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", config.name, *command], check=True, capture_output=True,
                          text=True, timeout=1800)


def timed(config, *command: str) -> float:
    start = time.monotonic()
    inner(config, *command)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="events to fill in (default 1000000)")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
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
                wait_until(lambda: subprocess.run(["docker", "exec", config.name, "curl", "-sf",
                                                   f"{endpoint}/moto-api/"]).returncode == 0, "moto", 20)
                run_deploy("deploy.py", {"image": "timewarp:bench-v1", "backup_bucket": BUCKET,
                                         "aws_endpoint_url": endpoint,
                                         "backup_aws_credentials": str(credentials)},
                           environ=BENCH_ENV, capture=True, timeout=900)
                psql = ["docker", "exec", "data-postgres-1", "psql", "-U", "timewarp", "-d", "timewarp", "-c"]
                filling = timed(config, *psql, FILL.format(rows=args.rows))
                size = inner(config, *psql[:-1], "-tAc", "SELECT pg_size_pretty(pg_database_size('timewarp'))").stdout
                bare = timed(config, "sh", "-c", "docker exec data-postgres-1 pg_dump --format=custom "
                                                 "--no-owner -U timewarp timewarp > /dev/null")
                ours = timed(config, "/usr/local/sbin/onehost-backup", "run")
                restore = timed(config, "/usr/local/sbin/onehost-backup", "restore")
            finally:
                tunnel.terminate()
    finally:
        if not args.keep:
            instance.reset(config)
    print(f"database: {args.rows} events, {size.strip()} (filled in {filling:.1f} s)")
    print(f"bare pg_dump -Fc:                                  {bare:6.1f} s")
    print(f"onehost-backup run (dump, verify, upload, beat):   {ours:6.1f} s   ({ours / bare:.2f}x bare)")
    print(f"onehost-backup restore (download, verify, scratch restore, counts): {restore:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
