#!/usr/bin/python3
"""onehost-backup: the database's backups on the host: dump, verify, upload, restore, drill.

    onehost-backup run                    dump, verify and upload to S3 at once (a new object,
                                          never over one), then the media files; keep N local
                                          copies, heartbeat
    onehost-backup list                   the backups in S3, newest first, with age and size
    onehost-backup restore [NAME|latest]  download, verify, restore into a scratch database and
                                          compare row counts, unpack and check the media files;
                                          --replace-live then swaps both in
    onehost-backup drill                  restore the latest into a scratch database, compare,
                                          check its media files, report, publish a metric, drop
                                          the scratch copies

Settings come from <data_dir>/backups/config.json, written by the deploy (deploy/tasks/backups.py).
Each `run` and `drill` leaves what it came to beside them (last-run.json, last-drill.json), which
`onehost status` reads.
Runs on the host as root (the timer, or `sudo`); needs only Python's standard library, boto3
(python3-boto3) and the PostgreSQL client of the server's major version. PostgreSQL itself
publishes no port: it is reached through its container's socket directory, or `docker exec`.

The pure parts (names, retention, row counts, command lines) are unit-tested; each step that
touches the world is a small function named for what it does.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_CONFIG = "/data/backups/config.json"
POSTGRES_CONTAINER = "data-postgres-1"
NAME = re.compile(r"^(?P<database>[A-Za-z0-9_]+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")
MULTIPART_THRESHOLD = 64 * 1024 * 1024
# The streamed upload: parts go to S3 while pg_dump still writes. S3 wants every part but the last
# to be at least 5 MiB (S3 User Guide, "Amazon S3 multipart upload limits":
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html); parts in flight are bounded
# so a slow S3 holds at most PART_SIZE * PARTS_IN_FLIGHT of memory.
PART_SIZE = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 4
READ_SIZE = 1024 * 1024
# pg_dump's output pipe: 1 MiB instead of 64 KiB, so pg_dump never waits on a busy moment of ours
# (fcntl(2), F_SETPIPE_SZ: up to /proc/sys/fs/pipe-max-size, 1 MiB by default).
PIPE_SIZE = 1024 * 1024
# zstd, not the custom format's default gzip: on a 10 M-row table pg_dump takes 8 s instead of
# 14 s and writes half the bytes, and pg_restore reads it back in 40% of the time (PostgreSQL
# docs, pg_dump "-Z method[:detail]": gzip, lz4, zstd or none;
# https://www.postgresql.org/docs/17/app-pgdump.html; zstd since PostgreSQL 16, commit 84adc8e2
# "pg_dump: Add support for zstd compression"). Debian's and the official images' PostgreSQL are
# built --with-zstd (docker-library/postgres, 17/alpine3.22/Dockerfile: "configure options mostly
# copying Debian"), and pg_restore reads a dump's compression from its header, so gzip dumps made
# before still restore.
DUMP_COMPRESSION = "zstd"
# PostgreSQL's socket directory inside its container (Debian's and the official images' default,
# /var/run/postgresql: docker-library/postgres 17/bookworm/Dockerfile, "install --directory ...
# /var/run/postgresql"; /var/run links to /run). The host reaches it through the container's root,
# /proc/<pid>/root (proc_pid_root(5): "the same view of the filesystem ... as the process itself"),
# so the host's pg_dump writes straight into our pipe instead of through `docker exec`'s stream
# (dockerd and the docker CLI copying every byte: 1 to 2 CPU seconds per 100 MB, taken from
# pg_dump's cores). The path is /run's, not /var/run's: an absolute link inside the container
# would resolve against the host's root.
CONTAINER_SOCKET_DIR = "run/postgresql"
# Beside each dump in S3: its checksum and the media files it covers (a streamed upload cannot
# carry the dump's SHA-256 in its metadata: that is fixed before the first byte is sent).
MANIFEST_SUFFIX = ".manifest.json"
MEDIA_SUFFIX = ".media.tar"
MEDIA_INDEX = "media-index.json"     # path -> (size, mtime, sha256): unchanged files are not read twice
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
    media_dir: str = "/data/media"        # the app's uploaded files (MEDIA_ROOT on the host)

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


def dump_command(settings: Settings, socket_dir: str | None = None) -> list[str]:
    """The host's pg_dump through the container's socket directory when it is reachable (the
    host's client is of the server's major version: the bake installs it), else pg_dump inside
    the container. Both trust local socket connections, as `docker exec psql` does."""
    options = ["--format=custom", f"--compress={DUMP_COMPRESSION}", "--no-owner",
               "--username", settings.db_user, settings.database]
    if socket_dir:
        return ["pg_dump", f"--host={socket_dir}", *options]
    return ["docker", "exec", POSTGRES_CONTAINER, "pg_dump", *options]


def verify_command(path: str) -> list[str]:
    return ["pg_restore", "--list", path]


def stream_verify_command() -> list[str]:
    """pg_restore reading the whole dump from its stdin as pg_dump writes it, every table's data
    decompressed and thrown away: a dump cut short or damaged fails it (pg_restore reads a custom
    archive from a pipe in order when it has no data offsets: PostgreSQL docs, pg_restore,
    "-f" and "filename"; https://www.postgresql.org/docs/17/app-pgrestore.html). It runs under
    SCHED_IDLE, on CPU time pg_dump and the server leave over (sched_setscheduler(2): "for running
    very low priority background jobs"); the dump never waits for it (dump_database), and the upload is
    completed only once it has read the last byte."""
    return ["chrt", "--idle", "0", "pg_restore", "--file=/dev/null"]


def manifest_key(settings: Settings, name: str) -> str:
    return object_key(settings, name + MANIFEST_SUFFIX)


def media_name(name: str) -> str:
    return name.removesuffix(".dump") + MEDIA_SUFFIX


def part_checksum(data: bytes) -> str:
    """x-amz-checksum-sha256 of one part: base64 of its SHA-256 (S3 API Reference, UploadPart)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def media_listing(files: dict[str, str]) -> dict:
    """What a backup's media are: how many files, and one SHA-256 over every path and its content's
    SHA-256 (sorted), which changes when any file is added, removed, renamed or changed."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path]}\n".encode())
    return {"count": len(files), "fingerprint": digest.hexdigest()}


def compare_media(expected: dict[str, str], found: dict[str, str]) -> list[str]:
    """One line per file missing, extra or with other content; empty when the trees match."""
    problems = [f"{path}: missing" for path in sorted(set(expected) - set(found))]
    problems += [f"{path}: not in the backup" for path in sorted(set(found) - set(expected))]
    problems += [f"{path}: other content" for path in sorted(set(expected) & set(found))
                 if expected[path] != found[path]]
    return problems


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


class StreamedUpload:
    """One object sent to S3 in parts while it is still being written: `add` the bytes as they
    come, then `complete` once they are verified, or `abort`.

    Nothing is published before `complete`: S3 makes the object only on CompleteMultipartUpload,
    and after AbortMultipartUpload makes none and frees the parts (S3 User Guide, "Aborting a
    multipart upload": https://docs.aws.amazon.com/AmazonS3/latest/userguide/abort-mpu.html).
    A part that fails ends the streaming (`failed` says why) but never the dump: the caller then
    uploads the finished file with retries. `s3` is a callable returning the client, so the
    dump starts before boto3 is even imported."""

    def __init__(self, s3, bucket: str, key: str, extra: dict, part_size: int = PART_SIZE,
                 in_flight: int = PARTS_IN_FLIGHT):
        self.bucket, self.key, self.part_size = bucket, key, part_size
        self._s3 = s3
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="part")
        self._slots = threading.BoundedSemaphore(in_flight)
        self._upload_id = self._pool.submit(self._create, extra)
        self._buffer = bytearray()
        self._parts: list = []
        self.failed: str | None = None
        self.size = 0

    def _create(self, extra: dict) -> str:
        return self._s3().create_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                  ChecksumAlgorithm="SHA256", **extra)["UploadId"]

    def _send(self, number: int, data: bytes) -> dict:
        try:
            checksum = part_checksum(data)
            answer = self._s3().upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id.result(),
                                            PartNumber=number, Body=data, ChecksumAlgorithm="SHA256",
                                            ChecksumSHA256=checksum)
            return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}
        finally:
            self._slots.release()

    def _flush(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        self._slots.acquire()        # waits while PARTS_IN_FLIGHT parts are on their way
        self._parts.append(self._pool.submit(self._send, len(self._parts) + 1, data))
        failed = next((part for part in self._parts if part.done() and part.exception()), None)
        if failed is not None or (self._upload_id.done() and self._upload_id.exception()):
            self._stop(failed.exception() if failed else self._upload_id.exception())

    def _stop(self, error: BaseException) -> None:
        self.failed = self.failed or f"{type(error).__name__}: {error}"
        self.abort()

    def add(self, data: bytes) -> None:
        if self.failed:
            return
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= self.part_size:
            self._flush()

    def complete(self) -> None:
        """Send what is left, wait for every part, then make the object (If-None-Match: *)."""
        if self.failed:
            raise BackupError(f"the streamed upload failed: {self.failed}")
        if self._buffer or not self._parts:
            self._flush()
        try:
            parts = [part.result() for part in self._parts]
            self._s3().complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                 UploadId=self._upload_id.result(),
                                                 MultipartUpload={"Parts": parts})
        except Exception as error:   # noqa: BLE001 - any failure leaves no object; the caller falls back
            self._stop(error)
            raise BackupError(f"the streamed upload failed: {self.failed}") from None
        self._pool.shutdown()

    def abort(self) -> None:
        """No object: the parts sent are dropped. Safe to call more than once."""
        for part in self._parts:
            part.cancel()
        self._pool.shutdown(wait=True)
        if self._upload_id.done() and not self._upload_id.exception():
            try:
                self._s3().abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                  UploadId=self._upload_id.result())
            except Exception as error:   # noqa: BLE001 - the bucket's lifecycle rule ends it after 7 days
                say(f"could not abort the upload of {self.key} ({error}); the bucket's rule removes it")
        self.failed = self.failed or "aborted"


def container_state(container: str, field: str) -> str:
    """A field of the container's state (`docker inspect`: Pid, Health.Status, ...); "" when
    Docker cannot say."""
    try:
        found = subprocess.run(["docker", "inspect", "--format", f"{{{{.State.{field}}}}}", container],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return found.stdout.strip() if found.returncode == 0 else ""


def postgres_socket_dir() -> str | None:
    """The PostgreSQL container's socket directory as the host sees it; None when it is not
    there (pg_dump then runs in the container, whose own errors say why)."""
    pid = container_state(POSTGRES_CONTAINER, "Pid")
    if not pid.isdigit() or pid == "0":
        return None
    directory = f"/proc/{pid}/root/{CONTAINER_SOCKET_DIR}"
    return directory if os.path.exists(f"{directory}/.s.PGSQL.5432") else None


class Written:
    """How many bytes of a file one thread has written so far; another waits for more."""

    def __init__(self):
        self.size = 0
        self.finished = False
        self._changed = threading.Condition()

    def grew(self, count: int) -> None:
        with self._changed:
            self.size += count
            self._changed.notify_all()

    def finish(self) -> None:
        with self._changed:
            self.finished = True
            self._changed.notify_all()

    def wait_beyond(self, position: int) -> tuple[int, bool]:
        """The size once it is beyond `position` or the writer has finished, and whether it has."""
        with self._changed:
            self._changed.wait_for(lambda: self.size > position or self.finished)
            return self.size, self.finished


def drain_into(pipe, out, written: Written) -> None:
    """Everything `pipe` carries into the file `out`, moved inside the kernel (splice(2)), with
    `written` told after each move: only then is that much of the file safe to read back."""
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass   # a smaller pipe only means pg_dump may wait a moment more
    while count := os.splice(pipe.fileno(), out.fileno(), PIPE_SIZE):
        written.grew(count)


def follow(path: Path, written: Written, sinks, read_size: int = READ_SIZE) -> None:
    """Each block of `path`, once written, to every sink in turn (the check, the upload, the hash),
    until the writer has finished: the file is the buffer, so a slow sink never stalls pg_dump."""
    position = 0
    with open(path, "rb", buffering=0) as source:
        while True:
            size, finished = written.wait_beyond(position)
            while position < size:
                block = os.pread(source.fileno(), min(read_size, size - position), position)
                position += len(block)
                for sink in sinks:
                    sink(block)
            if finished:   # the size it came with is the last
                return


class Verifier:
    """stream_verify_command fed through its stdin; a verifier that stops early fails the check."""

    def __init__(self):
        self._errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(stream_verify_command(), stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=self._errors)
        self.broken = False

    def write(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            self.process.stdin.write(data)
        except BrokenPipeError:
            self.broken = True

    def result(self) -> str | None:
        """None when the whole dump read well; otherwise what pg_restore said."""
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        code = self.process.wait()
        if code == 0 and not self.broken:
            return None
        self._errors.seek(0)
        detail = self._errors.read().decode(errors="replace").strip().splitlines()[-2:]
        return " ".join(detail) or f"pg_restore exited {code}"


def dump_database(settings: Settings, stream: StreamedUpload | None = None, name: str | None = None,
                  digest=None) -> Path:
    """pg_dump into <name>.partial; a second thread reads each block back once it is written and
    passes it on to the SHA-256, to pg_restore (the check) and to `stream` (the upload); renamed
    only when pg_dump and the check both pass. Any failure aborts `stream`, so S3 gets no object,
    and removes the partial file."""
    backup_dir = Path(settings.backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    final = backup_dir / (name or backup_name(settings.database, datetime.now(UTC)))
    partial = final.with_name(final.name + ".partial")
    errors = tempfile.TemporaryFile()
    dump = verifier = None
    written = Written()
    sink_failures: list[BaseException] = []

    def pass_on() -> None:
        try:
            follow(partial, written, [verifier.write] + ([stream.add] if stream else []) +
                   ([digest.update] if digest else []))
        except BaseException as failure:   # noqa: BLE001 - raised again by the dumping thread
            sink_failures.append(failure)

    try:
        verifier = Verifier()
        with open(partial, "wb", buffering=0) as out:
            dump = subprocess.Popen(dump_command(settings, postgres_socket_dir()), stdout=subprocess.PIPE,
                                    stderr=errors)
            follower = threading.Thread(target=pass_on, name="follow-dump")
            follower.start()
            try:
                with dump.stdout:
                    drain_into(dump.stdout, out, written)
                code = dump.wait()
            finally:
                written.finish()
                follower.join()
        if sink_failures:
            raise BackupError(f"passing the dump on failed: {describe(sink_failures[0])}")
        problem = verifier.result()
        if code != 0:
            errors.seek(0)
            detail = " ".join(errors.read().decode(errors="replace").strip().splitlines()[-2:])
            if "server version mismatch" in detail:
                detail += (" (the host's PostgreSQL client must be the server's major version: bake the "
                           "image again with backup_packages naming postgresql-client-<that version>)")
            raise BackupError(f"pg_dump of {settings.database} failed: {detail}")
        if problem:
            raise BackupError(f"checking {partial.name} with pg_restore failed: {problem}")
    except (OSError, BackupError) as error:   # OSError: ENOSPC and friends while writing
        for process in (dump, verifier and verifier.process):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        partial.unlink(missing_ok=True)
        if stream:
            stream.abort()
        if isinstance(error, BackupError):
            raise
        raise BackupError(f"writing {partial} failed: {error.strerror or error}") from None
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


def _clients_refusing_overwrites(settings: Settings):
    s3, cloudwatch = _clients(settings)
    refuse_overwrites(s3)
    return s3, cloudwatch


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


def only_new_copies(params: dict, **_) -> None:
    """botocore's before-call hook for CopyObject: `If-None-Match: *` as a header, since the
    botocore of Debian trixie (1.37) has no IfNoneMatch parameter for CopyObject yet. S3 copies
    only to a key that does not exist (S3 API Reference, CopyObject, If-None-Match:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html), and a bucket policy that
    enforces conditional writes refuses copies without it (S3 User Guide, "Enforce conditional
    writes": https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html)."""
    params["headers"]["If-None-Match"] = "*"


def refuse_overwrites(s3) -> None:
    for operation in ("PutObject", "CompleteMultipartUpload"):
        s3.meta.events.register(f"before-parameter-build.s3.{operation}", only_new_objects,
                                unique_id=f"onehost-only-new-objects-{operation}")
    s3.meta.events.register("before-call.s3.CopyObject", only_new_copies, unique_id="onehost-only-new-copies")


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


def upload_extra(settings: Settings) -> dict:
    """What every object of a backup carries: encryption at rest and the tags."""
    return {"ServerSideEncryption": "AES256", "Tagging": object_tags(settings, current_release(settings))}


def streamed_dump(settings: Settings, s3) -> tuple[Path, str | None, str]:
    """The dump, checked and already in S3 when pg_dump ends (the key; None when the streamed
    upload failed and the finished file is still to be uploaded), and its SHA-256."""
    name = backup_name(settings.database, datetime.now(UTC))
    stream = StreamedUpload(s3, settings.bucket, object_key(settings, name), upload_extra(settings))
    digest = hashlib.sha256()
    path = dump_database(settings, stream, name, digest)
    try:
        stream.complete()
    except BackupError as error:
        say(f"{error}; uploading {path.name} from the disk instead")
        return path, None, digest.hexdigest()
    head = s3().head_object(Bucket=settings.bucket, Key=stream.key)
    if head["ContentLength"] != path.stat().st_size:
        raise BackupError(f"s3://{settings.bucket}/{stream.key} does not match {path} after upload")
    say(f"uploaded to s3://{settings.bucket}/{stream.key} while dumping (sha256 {digest.hexdigest()[:12]}…)")
    return path, stream.key, digest.hexdigest()


class _HashingReader:
    """A file read through it adds to `digest` (a media file as tar reads it)."""

    def __init__(self, source, digest):
        self.source, self.digest = source, digest

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        return data


class _Sinks:
    """A write-only file object passing each write on (tarfile's output)."""

    def __init__(self, *sinks):
        self.sinks = sinks

    def write(self, data) -> int:
        for sink in self.sinks:
            sink(bytes(data))
        return len(data)


def media_paths(root: Path) -> list[str]:
    """Every regular file under root, relative, sorted; symbolic links are not followed."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")
                  if path.is_file() and not path.is_symlink())


def upload_media_once(settings: Settings, s3, name: str) -> dict:
    """A tar of media_dir streamed into S3 (no local copy: the files are on the disk already),
    each file hashed as tar reads it, so the manifest names exactly what went in."""
    root = Path(settings.media_dir)
    key = object_key(settings, media_name(name))
    stream = StreamedUpload(s3, settings.bucket, key, upload_extra(settings))
    whole = hashlib.sha256()
    files: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=_Sinks(stream.add, whole.update), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for relative in media_paths(root):
                path = root / relative
                info = tar.gettarinfo(str(path), arcname=relative)
                digest = hashlib.sha256()
                with open(path, "rb") as source:
                    tar.addfile(info, _HashingReader(source, digest))
                files[relative] = digest.hexdigest()
        stream.complete()
    except OSError as error:
        stream.abort()
        raise BackupError(f"reading {root} failed: {error.strerror or error}") from None
    except BackupError:
        stream.abort()
        raise
    owner = root.stat()
    return {"key": key, "size": stream.size, "sha256": whole.hexdigest(), **media_listing(files),
            "owner": [owner.st_uid, owner.st_gid], "files": files}


def media_stat_fingerprint(root: Path) -> str:
    """One SHA-256 over every file's path, size and modification time: the quick check rsync
    makes by default (rsync(1), --size-only and "quick check"), read from the directory alone."""
    digest = hashlib.sha256()
    for relative in media_paths(root):
        stat = (root / relative).stat()
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def copy_unchanged_media(settings: Settings, s3, previous: dict, name: str) -> dict:
    """The previous backup's media archive copied inside S3 to this backup's key: nothing read
    from the disk, nothing uploaded, and the copy is a new object with its own lock and expiry,
    so no backup leans on an older one's archive. CopyObject takes up to 5 GB in one request
    (S3 API Reference, CopyObject); a larger archive is uploaded again."""
    media = (read_manifest(settings, s3, previous["backup"]) or {}).get("media")
    if not media or media["key"] != previous["key"]:
        raise BackupError(f"the manifest of {previous['backup']} does not name {previous['key']}")
    if media["size"] > 5 * 1024 ** 3:
        raise BackupError(f"{media['key']} is over CopyObject's 5 GB")
    key = object_key(settings, media_name(name))
    extra = upload_extra(settings)
    s3.copy_object(Bucket=settings.bucket, Key=key, CopySource={"Bucket": settings.bucket, "Key": media["key"]},
                   ServerSideEncryption=extra["ServerSideEncryption"], Tagging=extra["Tagging"],
                   TaggingDirective="REPLACE", ChecksumAlgorithm="SHA256")
    return {**media, "key": key}


def upload_media(settings: Settings, s3, name: str, previous: dict | None = None) -> dict | None:
    """The media files beside the dump, retried like the dump; None when there are none.
    `previous` (the last run's `media` record): when no file's path, size or time changed since,
    its archive is copied inside S3 instead of read and sent again."""
    root = Path(settings.media_dir)
    if not root.is_dir():
        say(f"no {root} on this host: no media files to back up")
        return None
    stat_fingerprint = media_stat_fingerprint(root)
    if previous and previous.get("stat") == stat_fingerprint:
        try:
            media = copy_unchanged_media(settings, s3(), previous, name)
            say(f"media: {media['count']} files unchanged since {previous['backup']}: its archive copied in S3 "
                f"to s3://{settings.bucket}/{media['key']}")
            return {**media, "stat": stat_fingerprint}
        except Exception as error:   # noqa: BLE001 - any failure: send the files instead
            say(f"media: copying the unchanged archive failed ({describe(error)}); sending the files")
    delay = 1.0
    for attempt in range(1, settings.upload_attempts + 1):
        try:
            media = {**upload_media_once(settings, s3, name), "stat": stat_fingerprint}
            say(f"media: {media['count']} files from {root} to s3://{settings.bucket}/{media['key']} "
                f"({media['size']} bytes)")
            return media
        except BackupError as error:
            failure = str(error)
        final = PERMANENT_S3_ERRORS.search(failure) or "PreconditionFailed" in failure
        if final or attempt == settings.upload_attempts:
            break
        say(f"media upload attempt {attempt} failed ({failure}); again in {delay:.0f} s")
        time.sleep(delay)
        delay *= 2
    raise BackupError(f"uploading the media files of {root} failed ({failure}); the dump is in S3 "
                      "but this backup has no media")


def upload_manifest(settings: Settings, s3, name: str, key: str, size: int, checksum: str,
                    media: dict | None) -> None:
    """Last of a backup: what the restore checks the dump and the media against."""
    manifest = {"backup": name, "dump": {"key": key, "size": size, "sha256": checksum},
                "media": media, "media_dir": settings.media_dir}
    s3.put_object(Bucket=settings.bucket, Key=manifest_key(settings, name), Body=json.dumps(manifest).encode(),
                  ContentType="application/json", ChecksumAlgorithm="SHA256", **upload_extra(settings))


def run_backup(settings: Settings) -> int:
    record = Path(settings.backup_dir) / RUN_RECORD
    path = key = None
    media_record = (read_record(record) or {}).get("media")   # kept when this run sends none
    try:
        # boto3's import and clients take a moment of their own: made while pg_dump starts; the
        # first part waits for them.
        with ThreadPoolExecutor(max_workers=1) as background:
            clients = background.submit(_clients_refusing_overwrites, settings)
            s3 = lambda: clients.result()[0]   # noqa: E731
            path, key, checksum = streamed_dump(settings, s3)
        s3, cloudwatch = clients.result()
        if key is None:
            key = upload(settings, s3, path)
        previous = (read_record(record) or {}).get("media")
        media = upload_media(settings, lambda: s3, path.name, previous if isinstance(previous, dict) else None)
        upload_manifest(settings, s3, path.name, key, path.stat().st_size, checksum, media)
        media_record = {"backup": path.name, "key": media["key"], "stat": media["stat"]} if media else None
        prune_local(settings)
        heartbeat(settings, cloudwatch, "BackupSucceeded")
        error = None
    except Exception as failure:
        error = failure
    size = path.stat().st_size if path is not None and path.exists() else None
    outcome = run_record(datetime.now(UTC), path.name if path else None, size, key,
                         describe(error) if error else None, read_record(record))
    write_record(record, {**outcome, "media": media_record})
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
    manifest = read_manifest(settings, s3, chosen["name"])
    expected = (manifest or {}).get("dump", {}).get("sha256") or \
        s3.head_object(Bucket=settings.bucket, Key=chosen["key"])["Metadata"].get("sha256")
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


def read_manifest(settings: Settings, s3, name: str) -> dict | None:
    """The backup's manifest; None for a backup made before there were manifests."""
    from botocore.exceptions import ClientError
    try:
        body = s3.get_object(Bucket=settings.bucket, Key=manifest_key(settings, name))["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body)


def keep_owner(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter (no absolute paths, no links out of the tree, no devices), but the
    files keep the owner they had on the host, so the app can still write to them (Python docs,
    tarfile, "Extraction filters": https://docs.python.org/3/library/tarfile.html#tarfile.data_filter)."""
    checked = tarfile.data_filter(member, path)
    return checked.replace(uid=member.uid, gid=member.gid, uname=member.uname, gname=member.gname, deep=False)


def files_in(root: Path) -> dict[str, str]:
    return {relative: sha256_of(root / relative) for relative in media_paths(root)}


def fetch_media(settings: Settings, s3, manifest: dict | None) -> Path | None:
    """The backup's media files unpacked into a directory beside media_dir (same filesystem, so
    moving them in is a rename), checked file by file against the manifest; None when the backup
    has none."""
    media = (manifest or {}).get("media")
    if manifest is None:
        say("this backup has no manifest (made before media were backed up): no media files to restore")
        return None
    if media is None:
        say(f"this backup has no media files (there was no {manifest.get('media_dir', settings.media_dir)})")
        return None
    root = Path(settings.media_dir)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-restore-", dir=root.parent))
    try:
        whole = hashlib.sha256()
        body = s3.get_object(Bucket=settings.bucket, Key=media["key"])["Body"]
        reader = _HashingReader(body, whole)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            tar.extractall(staging, filter=keep_owner, numeric_owner=True)
        while reader.read(READ_SIZE):   # the tar's padding, so the checksum covers every byte
            pass
        if whole.hexdigest() != media["sha256"]:
            raise BackupError(f"{media['key']} does not match its sha256 in the manifest: not restored")
        problems = compare_media(media["files"], files_in(staging))
        if problems:
            raise BackupError(f"the media files of {media['key']} differ from the manifest: "
                              f"{'; '.join(problems[:5])}")
        os.chown(staging, *media["owner"])
        staging.chmod(0o755)
    except (BackupError, OSError, tarfile.TarError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, BackupError):
            raise
        raise BackupError(f"unpacking {media['key']} failed: {error}") from None
    say(f"media: {media['count']} files unpacked and checked against the manifest")
    return staging


def swap_media(settings: Settings, staging: Path) -> Path:
    """The checked files take the place of media_dir's content. The directory itself stays (the
    containers bind-mount it: a new directory in its place would not reach them); its old
    content is moved aside and returned, to drop once the restore is through."""
    root = Path(settings.media_dir)
    root.mkdir(exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=f".{root.name}-before-restore-", dir=root.parent))
    for entry in list(root.iterdir()):
        entry.rename(aside / entry.name)
    for entry in list(staging.iterdir()):
        entry.rename(root / entry.name)
    stat = staging.stat()
    os.chown(root, stat.st_uid, stat.st_gid)
    staging.rmdir()
    return aside


def unswap_media(settings: Settings, aside: Path) -> None:
    root = Path(settings.media_dir)
    for entry in list(root.iterdir()):
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for entry in list(aside.iterdir()):
        entry.rename(root / entry.name)
    aside.rmdir()


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
        if container_state(container, "Health.Status") == "healthy":
            return
        time.sleep(1)
    raise BackupError(f"{container} did not turn healthy within {timeout:.0f} s")


def swap_in(settings: Settings, scratch: str, media: Path | None = None) -> None:
    """The restored database (and the restored media files) replace the live ones while the app
    is stopped; the live ones are kept until the app is healthy on the restored ones, and put
    back if it is not."""
    app = live_app_container(settings)
    kept = f"{settings.database}_before_restore_{datetime.now(UTC):%Y%m%d%H%M%S}"
    if app:
        _run(["docker", "stop", "--time", "30", app], f"stopping {app}")
    renamed = False
    media_aside = None
    try:
        if media is not None:
            media_aside = swap_media(settings, media)
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
    except (BackupError, OSError):
        if media_aside is not None:
            say(f"putting the media files from before the restore back in {settings.media_dir}")
            unswap_media(settings, media_aside)
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
    if media_aside is not None:
        shutil.rmtree(media_aside)
    say(f"{settings.database} is the restored database; the app is healthy on it")


def restore(settings: Settings, wanted: str, replace_live: bool) -> int:
    s3, _ = _clients(settings)
    path = fetch_backup(settings, s3, wanted)
    scratch = f"{settings.database}_restore"
    media = None
    try:
        restore_into_scratch(settings, path, scratch)
        media = fetch_media(settings, s3, read_manifest(settings, s3, path.name[len("restore-"):]))
        if not replace_live:
            drop_database(settings, scratch)
            say("checked only; add --replace-live to swap it in for the live database and media files "
                "(the app stops meanwhile)")
            return 0
        swap_in(settings, scratch, media)
        media = None
        return 0
    except BackupError:
        subprocess.run(psql_command(settings, "postgres", f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'),
                       capture_output=True)
        raise
    finally:
        path.unlink(missing_ok=True)
        if media is not None:
            shutil.rmtree(media, ignore_errors=True)


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
    media = None
    try:
        restored = restore_into_scratch(settings, path, scratch)
        media = fetch_media(settings, s3, read_manifest(settings, s3, restored_from[0]))
        live = rows_in_database(settings, settings.database, list(restored))
        print(f"{'TABLE':<40} {'BACKUP':>10} {'LIVE':>10}")
        for table in sorted(restored):
            print(f"{table:<40} {restored[table]:>10} {live.get(table, '-'):>10}")
        heartbeat(settings, cloudwatch, "RestoreDrillSucceeded")
        say(f"drill passed: {restored_from[0]} restores with the row counts it holds")
    finally:
        drop_database(settings, scratch)
        path.unlink(missing_ok=True)
        if media is not None:
            shutil.rmtree(media, ignore_errors=True)


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
