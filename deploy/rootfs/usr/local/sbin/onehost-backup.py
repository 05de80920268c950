#!/usr/bin/python3
"""onehost-backup: the database's backups on the host: dump, verify, upload, restore, drill.

    onehost-backup run                    dump, verify, upload to S3 (a new object, never over
                                          one), keep N local copies, heartbeat
    onehost-backup list                   the backups in S3, newest first, with age and size
    onehost-backup restore [NAME|latest]  download, verify, restore into a scratch database and
                                          compare row counts; --replace-live then swaps it in
    onehost-backup drill                  restore the latest into a scratch database, compare,
                                          report, publish a metric, drop the scratch database

Settings come from <data_dir>/backups/config.json, written by the deploy (deploy/tasks/backups.py).
Each `run` and `drill` leaves what it came to beside them (last-run.json, last-drill.json), which
`onehost status` reads.
Runs on the host as root (the timer, or `sudo`); needs only Python's standard library, boto3
(python3-boto3) and the PostgreSQL client of the server's major version. PostgreSQL itself is
reached through its container (`docker exec`): it publishes no port.

The pure parts (names, retention, row counts, command lines) are unit-tested; each step that
touches the world is a small function named for what it does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_CONFIG = "/data/backups/config.json"
POSTGRES_CONTAINER = "data-postgres-1"
NAME = re.compile(r"^(?P<database>[A-Za-z0-9_]+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")
MULTIPART_THRESHOLD = 64 * 1024 * 1024
# Errors no retry can fix: the upload stops at once (the local dump is kept).
PERMANENT_S3_ERRORS = re.compile(r"NoSuchBucket|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch")
# What the last run and the last drill came to, in the backup directory, for `onehost status`
# (onehost/commands/host_status.py reads them). systemd forgets a unit's result when the host
# reboots and a replaced host starts with none; these stay on /data with the dumps.
RUN_RECORD = "last-run.json"
DRILL_RECORD = "last-drill.json"


class BackupError(Exception):
    """A step failed; the message says which, why, and what was kept."""


# ----------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class Settings:
    bucket: str
    database: str
    db_user: str
    host: str
    backup_dir: str = "/data/backups"
    prefix: str = "backups/"
    region: str = "eu-west-1"
    endpoint_url: str | None = None      # S3 and CloudWatch elsewhere than AWS (tests: moto)
    keep_local: int = 2
    namespace: str = "onehost"
    upload_attempts: int = 5
    releases_dir: str = "/data/releases"

    @classmethod
    def load(cls, path: str) -> Settings:
        try:
            values = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BackupError(f"no backup settings in {path}: deploy with --data backup_bucket=<bucket> "
                              "to write them") from None
        except ValueError as error:
            raise BackupError(f"{path} is not JSON: {error}") from None
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise BackupError(f"{path} has unknown settings: {', '.join(unknown)}")
        missing = sorted(name for name in ("bucket", "database", "db_user", "host") if not values.get(name))
        if missing:
            raise BackupError(f"{path} lacks {', '.join(missing)}")
        return cls(**values)


# ----------------------------------------------------------------------------- pure parts

def backup_name(database: str, when: datetime) -> str:
    return f"{database}-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}.dump"


def backup_time(name: str) -> datetime | None:
    match = NAME.match(name)
    if not match:
        return None
    return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def local_to_remove(names: list[str], keep: int) -> list[str]:
    """Finished local dumps beyond the newest `keep`; anything not named like one is left alone."""
    dumps = sorted((name for name in names if backup_time(name)), key=backup_time, reverse=True)
    return dumps[max(0, keep):]


def object_key(settings: Settings, name: str) -> str:
    return f"{settings.prefix}{name}"


def object_tags(settings: Settings, release: str | None) -> str:
    from urllib.parse import urlencode
    return urlencode({"database": settings.database, "host": settings.host, "release": release or "none"})


def count_copy_rows(lines) -> dict[str, int]:
    """Rows per table in a plain-text dump's COPY blocks (`pg_restore --data-only -f -`)."""
    counts: dict[str, int] = {}
    table = None
    for line in lines:
        if table is None:
            match = re.match(r"^COPY (\S+) .*FROM stdin;$", line)
            if match:
                table = match[1]
                counts[table] = 0
        elif line.rstrip("\n") == "\\.":
            table = None
        else:
            counts[table] += 1
    return counts


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """One line per table whose count differs (or that is missing); empty when all match."""
    return [f"{table}: expected {expected[table]}, found {actual.get(table, 'no table')}"
            for table in sorted(expected) if actual.get(table) != expected[table]]


def dump_command(settings: Settings) -> list[str]:
    return ["docker", "exec", POSTGRES_CONTAINER, "pg_dump", "--format=custom", "--no-owner",
            "--username", settings.db_user, settings.database]


def verify_command(path: str) -> list[str]:
    return ["pg_restore", "--list", path]


def data_as_text_command(path: str) -> list[str]:
    return ["pg_restore", "--data-only", "--file=-", path]


def psql_command(settings: Settings, database: str, sql: str) -> list[str]:
    return ["docker", "exec", POSTGRES_CONTAINER, "psql", "--username", settings.db_user,
            "--dbname", database, "--tuples-only", "--no-align", "--set", "ON_ERROR_STOP=1",
            "--command", sql]


def restore_command(settings: Settings, database: str) -> list[str]:
    """pg_restore inside the container, the dump on its stdin."""
    return ["docker", "exec", "--interactive", POSTGRES_CONTAINER, "pg_restore", "--no-owner",
            "--role", settings.db_user, "--username", settings.db_user, "--dbname", database,
            "--exit-on-error"]


def count_rows_sql(tables: list[str]) -> str:
    """One query: `<table>|<rows>` per line."""
    return " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in sorted(tables))


def utc_stamp(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def run_record(finished_at: datetime, backup: str | None, size: int | None, key: str | None,
               error: str | None, previous: dict | None) -> dict:
    """last-run.json: this run (`ok`, the dump, whether it reached S3, the error), and the newest
    dump that reached S3 (`last_uploaded`, carried over from `previous` when this one did not)."""
    record = {"finished_at": utc_stamp(finished_at), "ok": error is None, "backup": backup, "size": size,
              "uploaded": key is not None, "key": key, "error": error}
    if key is not None:
        record["last_uploaded"] = {"finished_at": record["finished_at"], "backup": backup, "size": size,
                                   "key": key}
    else:
        earlier = (previous or {}).get("last_uploaded")
        record["last_uploaded"] = earlier if isinstance(earlier, dict) else None
    return record


def drill_record(finished_at: datetime, backup: str | None, error: str | None) -> dict:
    """last-drill.json: when the drill ended, which backup it restored, passed or why not."""
    return {"finished_at": utc_stamp(finished_at), "passed": error is None, "backup": backup, "error": error}


def describe(error: Exception) -> str:
    return str(error) if isinstance(error, BackupError) else f"{type(error).__name__}: {error}"


# ----------------------------------------------------------------------------- steps

def say(message: str) -> None:
    print(f"onehost-backup: {message}", flush=True)


def _run(command: list[str], what: str, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **options)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{what} failed: {' '.join(detail) or f'exit {result.returncode}'}")
    return result


def dump_database(settings: Settings) -> Path:
    """pg_dump into <name>.partial, checked with pg_restore --list, then renamed."""
    backup_dir = Path(settings.backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    final = backup_dir / backup_name(settings.database, datetime.now(UTC))
    partial = final.with_name(final.name + ".partial")
    try:
        with open(partial, "wb") as out:
            result = subprocess.run(dump_command(settings), stdout=out, stderr=subprocess.PIPE)
        if result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip().splitlines()[-2:]
            raise BackupError(f"pg_dump of {settings.database} failed: {' '.join(detail)}")
        _run(verify_command(str(partial)), f"checking {partial.name} with pg_restore --list")
    except OSError as error:   # ENOSPC and friends while writing
        partial.unlink(missing_ok=True)
        raise BackupError(f"writing {partial} failed: {error.strerror or error}") from None
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(final)
    say(f"dumped {settings.database} to {final} ({final.stat().st_size} bytes), checked")
    return final


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _clients(settings: Settings):
    """S3 and CloudWatch clients. Credentials: the instance role on EC2; elsewhere an AWS
    credentials file the deploy put beside the settings (aws-credentials, mode 0600)."""
    import boto3
    from botocore.config import Config
    credentials = Path(settings.backup_dir) / "aws-credentials"
    if credentials.is_file():
        os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    config = Config(region_name=settings.region, connect_timeout=5, read_timeout=60,
                    retries={"max_attempts": 2, "mode": "standard"})
    options = {"config": config, "endpoint_url": settings.endpoint_url}
    return boto3.client("s3", **options), boto3.client("cloudwatch", **options)


def current_release(settings: Settings) -> str | None:
    current = Path(settings.releases_dir) / "current"
    return current.resolve().name if current.is_symlink() else None


def only_new_objects(params: dict, **_) -> None:
    """botocore's before-parameter-build hook for PutObject and CompleteMultipartUpload: S3 writes
    the object only if its key does not exist yet, and answers 412 PreconditionFailed otherwise
    (S3 API Reference, PutObject and CompleteMultipartUpload, If-None-Match). The stack's host
    role allows no other upload, so a dump can never replace one already in the bucket.
    s3transfer's upload_file does not pass IfNoneMatch itself (not in its ALLOWED_UPLOAD_ARGS,
    s3transfer 0.11 to 0.19), hence the hook on the client it uses."""
    params["IfNoneMatch"] = "*"


def refuse_overwrites(s3) -> None:
    for operation in ("PutObject", "CompleteMultipartUpload"):
        s3.meta.events.register(f"before-parameter-build.s3.{operation}", only_new_objects,
                                unique_id=f"onehost-only-new-objects-{operation}")


def matches_upload(head: dict, path: Path, checksum: str) -> bool:
    return head["ContentLength"] == path.stat().st_size and head["Metadata"].get("sha256") == checksum


def upload(settings: Settings, s3, path: Path) -> str:
    """To S3 with SSE, a SHA-256 checksum and tags, never over an existing object; retried with
    backoff; confirmed by HEAD.

    The checksum is also what a bucket with an Object Lock default retention demands of every
    upload (Content-MD5 or x-amz-sdk-checksum-algorithm: S3 API Reference, PutObject), whatever
    the SDK would add of its own (botocore before 1.36 adds none)."""
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    key = object_key(settings, path.name)
    checksum = sha256_of(path)
    extra = {"ServerSideEncryption": "AES256", "ChecksumAlgorithm": "SHA256",
             "Metadata": {"sha256": checksum}, "Tagging": object_tags(settings, current_release(settings))}
    transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)
    refuse_overwrites(s3)
    delay = 1.0
    for attempt in range(1, settings.upload_attempts + 1):
        try:
            try:
                s3.upload_file(str(path), settings.bucket, key, ExtraArgs=extra, Config=transfer)
            except (ClientError, S3UploadFailedError) as error:
                if "PreconditionFailed" not in str(error):
                    raise
                # The key exists: an earlier attempt that landed although its answer was lost,
                # or another dump of the same second. Only the first is this upload.
                if not matches_upload(s3.head_object(Bucket=settings.bucket, Key=key), path, checksum):
                    raise BackupError(f"s3://{settings.bucket}/{key} already exists with other content "
                                      f"and is not overwritten: {path} is kept") from None
                say(f"s3://{settings.bucket}/{key} is already there with this content")
            head = s3.head_object(Bucket=settings.bucket, Key=key)
            if not matches_upload(head, path, checksum):
                raise BackupError(f"s3://{settings.bucket}/{key} does not match {path} after upload")
            say(f"uploaded to s3://{settings.bucket}/{key} (sha256 {checksum[:12]}…)")
            return key
        except NoCredentialsError:
            raise BackupError("no AWS credentials for the upload (an instance role on EC2, or "
                              f"--data backup_aws_credentials=FILE): {path} is kept") from None
        except (ClientError, BotoCoreError, S3UploadFailedError) as error:
            failure = str(error)
        refused = PERMANENT_S3_ERRORS.search(failure)
        if refused:
            raise BackupError(f"upload to s3://{settings.bucket} refused ({refused[0]}): {path} is kept")
        if attempt < settings.upload_attempts:
            say(f"upload attempt {attempt} failed ({failure}); again in {delay:.0f} s")
            time.sleep(delay)
            delay *= 2
    raise BackupError(f"upload to s3://{settings.bucket}/{key} failed {settings.upload_attempts} times "
                      f"({failure}): {path} is kept")


def prune_local(settings: Settings) -> list[str]:
    backup_dir = Path(settings.backup_dir)
    removed = local_to_remove([path.name for path in backup_dir.iterdir()], settings.keep_local)
    for name in removed:
        (backup_dir / name).unlink()
    if removed:
        say(f"removed local copies beyond the newest {settings.keep_local}: {', '.join(removed)}")
    return removed


def heartbeat(settings: Settings, cloudwatch, metric: str) -> None:
    """The alarm watches this: no data point for a day means backups stopped. One metric only:
    the host's custom metrics stay within CloudWatch's free ten (docs/explanation/costs.md)."""
    dimensions = [{"Name": "Host", "Value": settings.host}]
    data = [{"MetricName": metric, "Value": 1, "Unit": "Count", "Dimensions": dimensions}]
    cloudwatch.put_metric_data(Namespace=settings.namespace, MetricData=data)
    say(f"heartbeat {metric} published to CloudWatch ({settings.namespace})")


def read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path: Path, record: dict) -> None:
    """Written beside, then renamed over the old one. A record that cannot be written (a full
    disk) is reported and skipped: it never changes what the run itself came to."""
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(record) + "\n")
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        say(f"could not record the outcome in {path}: {error.strerror or error}")


def run_backup(settings: Settings) -> int:
    record = Path(settings.backup_dir) / RUN_RECORD
    path = key = None
    try:
        # boto3's import and clients take a moment of their own: made while pg_dump runs.
        with ThreadPoolExecutor(max_workers=1) as background:
            clients = background.submit(_clients, settings)
            path = dump_database(settings)
            s3, cloudwatch = clients.result()
        key = upload(settings, s3, path)
        prune_local(settings)
        heartbeat(settings, cloudwatch, "BackupSucceeded")
        error = None
    except Exception as failure:
        error = failure
    size = path.stat().st_size if path is not None and path.exists() else None
    write_record(record, run_record(datetime.now(UTC), path.name if path else None, size, key,
                                    describe(error) if error else None, read_record(record)))
    if error:
        raise error
    return 0


def remote_backups(settings: Settings, s3) -> list[dict]:
    """Backups in S3, newest first: name, key, size, time."""
    from botocore.exceptions import BotoCoreError, ClientError
    found = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=settings.prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(settings.prefix):]
                if backup_time(name):
                    found.append({"name": name, "key": item["Key"], "size": item["Size"], "time": backup_time(name)})
    except ClientError as error:
        raise BackupError(f"cannot list s3://{settings.bucket}/{settings.prefix}: "
                          f"{error.response.get('Error', {}).get('Code')}") from None
    except BotoCoreError as error:
        raise BackupError(f"cannot list s3://{settings.bucket}/{settings.prefix}: {error}") from None
    return sorted(found, key=lambda item: item["time"], reverse=True)


def list_backups(settings: Settings) -> int:
    s3, _ = _clients(settings)
    now = datetime.now(UTC)
    backups = remote_backups(settings, s3)
    if not backups:
        print(f"no backups in s3://{settings.bucket}/{settings.prefix}")
        return 0
    print(f"{'BACKUP':<40} {'AGE':>8} {'SIZE':>12}")
    for item in backups:
        hours = (now - item["time"]).total_seconds() / 3600
        print(f"{item['name']:<40} {hours:7.1f}h {item['size']:>12}")
    return 0


def fetch_backup(settings: Settings, s3, wanted: str) -> Path:
    """Download `wanted` (a name, or latest) and check it against its checksum and pg_restore."""
    backups = remote_backups(settings, s3)
    if wanted == "latest":
        if not backups:
            raise BackupError(f"no backups in s3://{settings.bucket}/{settings.prefix} to restore")
        chosen = backups[0]
    else:
        chosen = next((item for item in backups if item["name"] == wanted), None)
        if chosen is None:
            known = ", ".join(item["name"] for item in backups[:5]) or "none"
            raise BackupError(f"no backup named {wanted} in s3://{settings.bucket}/{settings.prefix} "
                              f"(newest: {known})")
    target = Path(settings.backup_dir) / f"restore-{chosen['name']}"
    s3.download_file(settings.bucket, chosen["key"], str(target))
    expected = s3.head_object(Bucket=settings.bucket, Key=chosen["key"])["Metadata"].get("sha256")
    if expected and sha256_of(target) != expected:
        target.unlink()
        raise BackupError(f"{chosen['name']} does not match its sha256 in S3: not restored")
    try:
        _run(verify_command(str(target)), f"checking {chosen['name']} with pg_restore --list")
    except BackupError:
        target.unlink()
        raise
    say(f"downloaded and checked {chosen['name']} ({chosen['size']} bytes)")
    return target


def rows_in_dump(path: Path) -> dict[str, int]:
    with subprocess.Popen(data_as_text_command(str(path)), stdout=subprocess.PIPE, text=True) as reader:
        counts = count_copy_rows(reader.stdout)
    if reader.returncode != 0:
        raise BackupError(f"reading the data of {path.name} failed")
    return counts


def rows_in_database(settings: Settings, database: str, tables: list[str]) -> dict[str, int]:
    if not tables:
        return {}
    output = _run(psql_command(settings, database, count_rows_sql(tables)), f"counting rows in {database}").stdout
    return {table: int(count) for table, count in (line.split("|") for line in output.split())}


def restore_into_scratch(settings: Settings, path: Path, scratch: str) -> dict[str, int]:
    """A fresh scratch database from the dump; its row counts must equal the dump's own."""
    drop_database(settings, scratch)
    _run(psql_command(settings, "postgres", f'CREATE DATABASE "{scratch}"'), f"creating {scratch}")
    with open(path, "rb") as dump:
        result = subprocess.run(restore_command(settings, scratch), stdin=dump, capture_output=True)
    if result.returncode != 0:
        raise BackupError(f"restoring {path.name} into {scratch} failed: "
                          f"{result.stderr.decode(errors='replace').strip()[-300:]}")
    expected = rows_in_dump(path)
    actual = rows_in_database(settings, scratch, list(expected))
    differences = compare_counts(expected, actual)
    if differences:
        raise BackupError(f"{path.name} restored into {scratch} with other row counts: {'; '.join(differences)}")
    say(f"restored into {scratch}: {len(expected)} tables, {sum(expected.values())} rows, as in the dump")
    return expected


def drop_database(settings: Settings, database: str) -> None:
    _run(psql_command(settings, "postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'),
         f"dropping {database}")


def live_app_container(settings: Settings) -> str | None:
    upstream = Path(settings.releases_dir).parent / "stacks" / "edge" / "conf.d" / "upstream.inc"
    match = re.search(r"http://(app-[a-z]+-app-1):", upstream.read_text()) if upstream.exists() else None
    return match[1] if match else None


def wait_healthy(container: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", container],
                                capture_output=True, text=True).stdout.strip()
        if status == "healthy":
            return
        time.sleep(1)
    raise BackupError(f"{container} did not turn healthy within {timeout:.0f} s")


def swap_in(settings: Settings, scratch: str) -> None:
    """The restored database replaces the live one while the app is stopped; the live one is kept
    (renamed) until the app is healthy on the restored one, and put back if it is not."""
    app = live_app_container(settings)
    kept = f"{settings.database}_before_restore_{datetime.now(UTC):%Y%m%d%H%M%S}"
    if app:
        _run(["docker", "stop", "--time", "30", app], f"stopping {app}")
    renamed = False
    try:
        _run(psql_command(settings, "postgres",
                          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          f"WHERE datname = '{settings.database}'"),
             "closing connections to the live database")
        _run(psql_command(settings, "postgres", f'ALTER DATABASE "{settings.database}" RENAME TO "{kept}"'),
             "setting the live database aside")
        renamed = True
        _run(psql_command(settings, "postgres", f'ALTER DATABASE "{scratch}" RENAME TO "{settings.database}"'),
             "putting the restored database in its place")
        if app:
            _run(["docker", "start", app], f"starting {app}")
            wait_healthy(app)
    except BackupError:
        if renamed:
            say(f"putting {kept} back as {settings.database}")
            if app:
                subprocess.run(["docker", "stop", "--time", "30", app], capture_output=True)
            subprocess.run(psql_command(settings, "postgres",
                                        f'ALTER DATABASE "{settings.database}" RENAME TO "{scratch}"'),
                           capture_output=True)
            subprocess.run(psql_command(settings, "postgres",
                                        f'ALTER DATABASE "{kept}" RENAME TO "{settings.database}"'),
                           capture_output=True)
        if app:
            subprocess.run(["docker", "start", app], capture_output=True)
        raise
    drop_database(settings, kept)
    say(f"{settings.database} is the restored database; the app is healthy on it")


def restore(settings: Settings, wanted: str, replace_live: bool) -> int:
    s3, _ = _clients(settings)
    path = fetch_backup(settings, s3, wanted)
    scratch = f"{settings.database}_restore"
    try:
        restore_into_scratch(settings, path, scratch)
        if not replace_live:
            drop_database(settings, scratch)
            say("checked only; add --replace-live to swap it in for the live database (the app stops meanwhile)")
            return 0
        swap_in(settings, scratch)
        return 0
    except BackupError:
        subprocess.run(psql_command(settings, "postgres", f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'),
                       capture_output=True)
        raise
    finally:
        path.unlink(missing_ok=True)


def drill(settings: Settings) -> int:
    restored_from: list[str] = []
    try:
        restore_drill(settings, restored_from)
        error = None
    except Exception as failure:
        error = failure
    write_record(Path(settings.backup_dir) / DRILL_RECORD,
                 drill_record(datetime.now(UTC), restored_from[0] if restored_from else None,
                              describe(error) if error else None))
    if error:
        raise error
    return 0


def restore_drill(settings: Settings, restored_from: list[str]) -> None:
    """The drill itself; the name of the backup it fetched goes into `restored_from`."""
    s3, cloudwatch = _clients(settings)
    path = fetch_backup(settings, s3, "latest")
    restored_from.append(path.name[len("restore-"):])
    scratch = f"{settings.database}_drill"
    try:
        restored = restore_into_scratch(settings, path, scratch)
        live = rows_in_database(settings, settings.database, list(restored))
        print(f"{'TABLE':<40} {'BACKUP':>10} {'LIVE':>10}")
        for table in sorted(restored):
            print(f"{table:<40} {restored[table]:>10} {live.get(table, '-'):>10}")
        heartbeat(settings, cloudwatch, "RestoreDrillSucceeded")
        say(f"drill passed: {restored_from[0]} restores with the row counts it holds")
    finally:
        drop_database(settings, scratch)
        path.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="onehost-backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.environ.get("ONEHOST_BACKUP_CONFIG", DEFAULT_CONFIG),
                        help=f"settings file (default {DEFAULT_CONFIG})")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="dump, verify, upload, prune local copies, heartbeat")
    commands.add_parser("list", help="the backups in S3, newest first")
    restore_parser = commands.add_parser("restore", help="restore a backup (checked in a scratch database first)")
    restore_parser.add_argument("backup", nargs="?", default="latest", help="a name from `list` (default: latest)")
    restore_parser.add_argument("--replace-live", action="store_true",
                                help="swap the restored database in for the live one (the app stops meanwhile)")
    commands.add_parser("drill", help="restore the latest backup into a scratch database and compare")
    args = parser.parse_args(argv)
    try:
        settings = Settings.load(args.config)
        if args.command == "run":
            return run_backup(settings)
        if args.command == "list":
            return list_backups(settings)
        if args.command == "restore":
            return restore(settings, args.backup, args.replace_live)
        return drill(settings)
    except BackupError as error:
        print(f"onehost-backup: {args.command} failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
