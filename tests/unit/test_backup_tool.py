"""onehost-backup's pure parts: names, retention, row counts from a dump, the command lines."""

import base64
import hashlib
import io
import json
import os
import subprocess
import threading
from datetime import UTC, datetime

import pytest

from deploy.settings import BackupSettings
from deploy.tasks import backups
from onehost.local.instance import wait_until
from tests.tools import load_host_script

tool = load_host_script("onehost-backup.py", "onehost_backup")

SETTINGS = tool.Settings(bucket="timewarp-backups", database="timewarp", db_user="timewarp", host="i-0abc")


def test_names_sort_by_time_and_carry_it():
    when = datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC)
    name = tool.backup_name("timewarp", when)
    assert name == "timewarp-20261125T030405Z.dump"
    assert tool.backup_time(name) == when
    assert tool.backup_time(name + ".partial") is None
    assert tool.backup_time("restore-" + name) is None


def test_local_retention_keeps_the_newest_and_ignores_everything_else():
    names = ["timewarp-20261123T030000Z.dump", "timewarp-20261125T030000Z.dump",
             "timewarp-20261124T030000Z.dump", "timewarp-20261126T030000Z.dump.partial",
             "pre-migrate-v2-20261120T000000Z.dump", "config.json"]
    assert tool.local_to_remove(names, keep=2) == ["timewarp-20261123T030000Z.dump"]
    assert tool.local_to_remove(names, keep=5) == []


def test_row_counts_from_the_dumps_copy_blocks():
    text = [
        "SET statement_timeout = 0;\n",
        "COPY public.events_event (id, title) FROM stdin;\n", "1\tA\n", "2\tB\n", "\\.\n", "\n",
        "COPY public.django_migrations (id, app, name, applied) FROM stdin;\n", "\\.\n",
    ]
    assert tool.count_copy_rows(text) == {"public.events_event": 2, "public.django_migrations": 0}


def test_count_differences_name_the_table():
    assert tool.compare_counts({"a": 1, "b": 2}, {"a": 1, "b": 2}) == []
    assert tool.compare_counts({"a": 1, "b": 2}, {"a": 0}) == ["a: expected 1, found 0",
                                                               "b: expected 2, found no table"]


def test_command_lines():
    assert tool.dump_command(SETTINGS) == ["docker", "exec", "data-postgres-1", "pg_dump", "--format=custom",
                                           "--compress=zstd", "--no-owner", "--username", "timewarp", "timewarp"]
    assert tool.dump_command(SETTINGS, "/proc/42/root/run/postgresql") == [
        "pg_dump", "--host=/proc/42/root/run/postgresql", "--format=custom", "--compress=zstd", "--no-owner",
        "--username", "timewarp", "timewarp"]
    assert tool.verify_command("/data/backups/x.dump.partial") == ["pg_restore", "--list",
                                                                   "/data/backups/x.dump.partial"]
    assert tool.restore_command(SETTINGS, "timewarp_restore") == [
        "docker", "exec", "--interactive", "data-postgres-1", "pg_restore", "--no-owner", "--role", "timewarp",
        "--username", "timewarp", "--dbname", "timewarp_restore", "--exit-on-error"]
    assert tool.count_rows_sql(["public.b", "public.a"]) == (
        "SELECT 'public.a', count(*) FROM public.a UNION ALL SELECT 'public.b', count(*) FROM public.b")


def test_object_key_and_tags():
    assert tool.object_key(SETTINGS, "timewarp-20261125T030405Z.dump") == "backups/timewarp-20261125T030405Z.dump"
    assert tool.object_tags(SETTINGS, "v2-abc") == "database=timewarp&host=i-0abc&release=v2-abc"
    assert tool.object_tags(SETTINGS, None).endswith("release=none")


def test_settings_file_errors_say_what_to_do(tmp_path):
    with pytest.raises(tool.BackupError, match="deploy with --data backup_bucket"):
        tool.Settings.load(str(tmp_path / "config.json"))
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"bucket": "b", "database": "d", "db_user": "u"}))
    with pytest.raises(tool.BackupError, match="lacks host"):
        tool.Settings.load(str(path))
    path.write_text(json.dumps({"bucket": "b", "database": "d", "db_user": "u", "host": "h", "colour": 1}))
    with pytest.raises(tool.BackupError, match="unknown settings: colour"):
        tool.Settings.load(str(path))


def test_the_timer_drop_in_replaces_the_schedule():
    assert backups.timer_schedule("*-*-* 04:30:00 UTC") == "[Timer]\nOnCalendar=\nOnCalendar=*-*-* 04:30:00 UTC\n"


class _Data(dict):
    def get(self, key, default=None):
        return super().get(key, default)


@pytest.mark.parametrize(("data", "message"), [
    ({"backup_bucket": "Bad_Bucket"}, "is not an S3 bucket name"),
    ({"backup_bucket": "ok-bucket", "backup_keep_local": 0}, "keep at least 1 local dump"),
    ({"backup_bucket": "ok-bucket", "backup_aws_credentials": "/no/such/file"}, "does not exist"),
    ({"backup_bucket": "ok-bucket", "backup_time": ""}, "backup_time is empty"),
])
def test_bad_backup_inputs_are_refused_before_anything(data, message):
    values = _Data({"backup_keep_local": 2, "backup_time": "*-*-* 03:00:00 UTC", **data})
    with pytest.raises(Exception, match=message):
        BackupSettings.from_values(values)


class _Raw:
    """What botocore reads an answer's body from."""
    def stream(self, **_):
        yield b""


def test_uploads_ask_s3_to_refuse_an_existing_key_and_carry_a_checksum(tmp_path):
    """The upload's requests as they go on the wire: PutObject with `If-None-Match: *` (the
    host role allows no other) and a SHA-256 checksum (what a bucket with Object Lock retention
    demands), answered here instead of by S3."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config
    # As botocore before 1.36 (Debian's is 1.37, with its own CRC32 default): no checksum of its own.
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x",
                      config=Config(request_checksum_calculation="when_required"))
    path = tmp_path / "timewarp-20261125T030405Z.dump"
    path.write_bytes(b"PGDMP dump")
    checksum = tool.sha256_of(path)
    sent = []

    def answer(request, **_):
        sent.append((request.method, request.url, dict(request.headers)))
        headers = {"Content-Length": str(path.stat().st_size), "x-amz-meta-sha256": checksum} \
            if request.method == "HEAD" else {}
        return AWSResponse(request.url, 200, headers, _Raw())

    s3.meta.events.register("before-send.s3", answer)
    settings = tool.Settings(bucket="timewarp-backups", database="timewarp", db_user="timewarp", host="i-0abc",
                             backup_dir=str(tmp_path), releases_dir=str(tmp_path / "releases"), upload_attempts=1)
    assert tool.upload(settings, s3, path) == "backups/timewarp-20261125T030405Z.dump"
    [(method, url, headers), (head, _, _)] = sent
    assert (method, head) == ("PUT", "HEAD") and url.endswith("/backups/timewarp-20261125T030405Z.dump")
    assert headers["If-None-Match"] == b"*"
    assert headers["x-amz-sdk-checksum-algorithm"] == b"SHA256"


WHEN = datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC)
DUMP = "timewarp-20261125T030400Z.dump"


def _settings_in(tmp_path):
    return tool.Settings(bucket="timewarp-backups", database="timewarp", db_user="timewarp", host="i-0abc",
                         backup_dir=str(tmp_path))


def _fake_steps(monkeypatch, tmp_path, upload_error=None):
    """run_backup's steps that touch the world, replaced: a 7-byte dump whose streamed upload
    failed (so the file upload runs), S3 answering or not."""
    def dump(settings):
        path = tmp_path / DUMP
        path.write_bytes(b"PGDMP..")
        return path

    def streamed(settings, s3):
        return tool.dump_database(settings), None, "0" * 64

    def upload(settings, s3, path):
        if upload_error:
            raise tool.BackupError(upload_error)
        return f"backups/{path.name}"

    monkeypatch.setattr(tool, "_clients", lambda settings: ("s3", "cloudwatch"))
    monkeypatch.setattr(tool, "_clients_refusing_overwrites", lambda settings: ("s3", "cloudwatch"))
    monkeypatch.setattr(tool, "dump_database", dump)
    monkeypatch.setattr(tool, "streamed_dump", streamed)
    monkeypatch.setattr(tool, "upload", upload)
    monkeypatch.setattr(tool, "upload_media", lambda settings, s3, name, previous: None)
    monkeypatch.setattr(tool, "upload_manifest", lambda *args: None)
    monkeypatch.setattr(tool, "prune_local", lambda settings: [])
    monkeypatch.setattr(tool, "heartbeat", lambda settings, cloudwatch, metric: None)


def test_a_run_records_the_dump_its_size_and_that_it_reached_s3(monkeypatch, tmp_path):
    _fake_steps(monkeypatch, tmp_path)
    assert tool.run_backup(_settings_in(tmp_path)) == 0
    record = json.loads((tmp_path / tool.RUN_RECORD).read_text())
    assert {key: record[key] for key in ("ok", "backup", "size", "uploaded", "key", "error")} == {
        "ok": True, "backup": DUMP, "size": 7, "uploaded": True, "key": f"backups/{DUMP}", "error": None}
    assert record["last_uploaded"] == {"finished_at": record["finished_at"], "backup": DUMP, "size": 7,
                                       "key": f"backups/{DUMP}"}
    assert datetime.strptime(record["finished_at"], "%Y-%m-%dT%H:%M:%SZ")


def test_a_failed_upload_is_recorded_and_keeps_the_last_dump_that_reached_s3(monkeypatch, tmp_path):
    earlier = {"finished_at": "2026-11-24T03:00:09Z", "backup": "timewarp-20261124T030000Z.dump", "size": 5,
               "key": "backups/timewarp-20261124T030000Z.dump"}
    (tmp_path / tool.RUN_RECORD).write_text(json.dumps({"ok": True, "last_uploaded": earlier}))
    _fake_steps(monkeypatch, tmp_path, upload_error="upload to s3://timewarp-backups refused (AccessDenied)")
    with pytest.raises(tool.BackupError, match="AccessDenied"):
        tool.run_backup(_settings_in(tmp_path))
    record = json.loads((tmp_path / tool.RUN_RECORD).read_text())
    assert (record["ok"], record["backup"], record["size"], record["uploaded"]) == (False, DUMP, 7, False)
    assert record["error"] == "upload to s3://timewarp-backups refused (AccessDenied)"
    assert record["last_uploaded"] == earlier


def test_a_dump_that_fails_is_recorded_without_a_backup(monkeypatch, tmp_path):
    _fake_steps(monkeypatch, tmp_path)
    def no_dump(settings):
        raise tool.BackupError("pg_dump of timewarp failed: container is not running")
    monkeypatch.setattr(tool, "dump_database", no_dump)
    with pytest.raises(tool.BackupError):
        tool.run_backup(_settings_in(tmp_path))
    record = json.loads((tmp_path / tool.RUN_RECORD).read_text())
    assert (record["ok"], record["backup"], record["size"], record["last_uploaded"]) == (False, None, None, None)
    assert "not running" in record["error"]


def test_a_record_that_cannot_be_written_leaves_the_runs_own_outcome(monkeypatch, tmp_path, capsys):
    _fake_steps(monkeypatch, tmp_path)
    settings = _settings_in(tmp_path / "gone")   # the record's directory is not there
    assert tool.run_backup(settings) == 0
    assert "could not record the outcome" in capsys.readouterr().out


def test_the_drill_records_whether_it_passed(monkeypatch, tmp_path):
    settings = _settings_in(tmp_path)

    def passing(settings, restored_from):
        restored_from.append(DUMP)

    monkeypatch.setattr(tool, "restore_drill", passing)
    assert tool.drill(settings) == 0
    record = json.loads((tmp_path / tool.DRILL_RECORD).read_text())
    assert (record["passed"], record["backup"], record["error"]) == (True, DUMP, None)

    def failing(settings, restored_from):
        restored_from.append(DUMP)
        raise tool.BackupError(f"{DUMP} restored into timewarp_drill with other row counts: a: expected 1, found 0")

    monkeypatch.setattr(tool, "restore_drill", failing)
    with pytest.raises(tool.BackupError):
        tool.drill(settings)
    record = json.loads((tmp_path / tool.DRILL_RECORD).read_text())
    assert (record["passed"], record["backup"]) == (False, DUMP) and "other row counts" in record["error"]


def test_records_stamp_utc_seconds():
    assert tool.drill_record(WHEN, None, "no backups in s3://b/backups/ to restore") == {
        "finished_at": "2026-11-25T03:04:05Z", "passed": False, "backup": None,
        "error": "no backups in s3://b/backups/ to restore"}


# ----------------------------------------------------------------------------- streamed upload, media

class FakeS3:
    """An S3 client's multipart and object calls, kept in memory: an object exists only once
    complete_multipart_upload (or put_object) made it."""

    def __init__(self, fail_part: int | None = None):
        self.calls, self.objects, self.uploads, self.fail_part = [], {}, {}, fail_part

    def create_multipart_upload(self, Bucket, Key, **extra):
        self.calls.append(("create", Key, extra.get("ChecksumAlgorithm")))
        self.uploads[f"up-{len(self.uploads)}"] = {}
        return {"UploadId": f"up-{len(self.uploads) - 1}"}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body, ChecksumAlgorithm, ChecksumSHA256):
        self.calls.append(("part", PartNumber, len(Body)))
        if PartNumber == self.fail_part:
            raise ConnectionError("connection reset")
        assert ChecksumSHA256 == base64.b64encode(hashlib.sha256(Body).digest()).decode()
        self.uploads[UploadId][PartNumber] = Body
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, Bucket, Key, UploadId, MultipartUpload):
        numbers = [part["PartNumber"] for part in MultipartUpload["Parts"]]
        self.calls.append(("complete", Key, numbers))
        parts = self.uploads.pop(UploadId)
        self.objects[Key] = b"".join(parts[number] for number in numbers)

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self.calls.append(("abort", Key))
        self.uploads.pop(UploadId, None)

    def get_object(self, Bucket, Key):
        return {"Body": io.BytesIO(self.objects[Key])}

    def put_object(self, Bucket, Key, Body, **extra):
        self.calls.append(("put", Key))
        self.objects[Key] = Body

    def copy_object(self, Bucket, Key, CopySource, **extra):
        self.calls.append(("copy", CopySource["Key"], Key))
        self.objects[Key] = self.objects[CopySource["Key"]]


def test_the_verifier_reads_the_whole_dump_from_its_stdin():
    assert tool.stream_verify_command() == ["chrt", "--idle", "0", "pg_restore", "--file=/dev/null"]


def test_parts_are_sent_as_they_fill_and_the_object_made_only_on_complete():
    s3 = FakeS3()
    stream = tool.StreamedUpload(lambda: s3, "b", "backups/x.dump", {}, part_size=10)
    for block in (b"a" * 6, b"b" * 6, b"c" * 12, b"d" * 3):
        stream.add(block)
    assert s3.objects == {}
    stream.complete()
    assert s3.calls[0] == ("create", "backups/x.dump", "SHA256")
    assert sorted(call for call in s3.calls if call[0] == "part") == [("part", 1, 12), ("part", 2, 12),
                                                                      ("part", 3, 3)]
    assert s3.calls[-1] == ("complete", "backups/x.dump", [1, 2, 3])
    assert s3.objects == {"backups/x.dump": b"a" * 6 + b"b" * 6 + b"c" * 12 + b"d" * 3}


def test_a_failed_part_aborts_the_upload_and_leaves_no_object():
    s3 = FakeS3(fail_part=1)
    stream = tool.StreamedUpload(lambda: s3, "b", "backups/x.dump", {}, part_size=4)
    for _ in range(5):
        stream.add(b"1234")
    with pytest.raises(tool.BackupError, match="streamed upload failed: ConnectionError"):
        stream.complete()
    assert ("abort", "backups/x.dump") in s3.calls and s3.objects == {} and s3.uploads == {}


def _pipeline(monkeypatch, tmp_path, dump_script: str, verify_script: str):
    monkeypatch.setattr(tool, "postgres_socket_dir", lambda: None)
    monkeypatch.setattr(tool, "dump_command", lambda settings, socket_dir: ["sh", "-c", dump_script])
    monkeypatch.setattr(tool, "stream_verify_command", lambda: ["sh", "-c", verify_script])
    s3 = FakeS3()
    stream = tool.StreamedUpload(lambda: s3, "b", "backups/x.dump", {}, part_size=5 * 1024)
    return s3, stream, _settings_in(tmp_path)


def _dump_reaches_everywhere(settings, stream, s3, seen, size: int) -> None:
    """The finished dump is `size` bytes, and the verifier (into `seen`), the SHA-256 and S3 got exactly it."""
    digest = hashlib.sha256()
    path = tool.dump_database(settings, stream, DUMP, digest)
    stream.complete()
    body = path.read_bytes()
    assert len(body) == size and seen.read_bytes() == body and digest.hexdigest() == tool.sha256_of(path)
    assert s3.objects == {"backups/x.dump": body}


def test_the_dump_goes_to_disk_checksum_verifier_and_s3_in_one_pass(monkeypatch, tmp_path):
    # The verifier stands in for pg_restore: it must see every byte pg_dump wrote.
    seen = tmp_path / "seen"
    s3, stream, settings = _pipeline(monkeypatch, tmp_path, "head -c 20000 /dev/urandom", f"cat > {seen}")
    _dump_reaches_everywhere(settings, stream, s3, seen, 20000)
    parts = [call[2] for call in s3.calls if call[0] == "part"]
    assert sum(parts) == 20000 and all(size >= 5120 for size in parts[:-1])


def test_a_slow_check_never_holds_the_dump_back(monkeypatch, tmp_path):
    # The verifier reads nothing until the dump has ended (or gives up after 10 s): pg_dump still
    # writes everything (far more than a pipe holds) and exits, and the check then reads every byte.
    seen, ended = tmp_path / "seen", tmp_path / "ended"
    s3, stream, settings = _pipeline(monkeypatch, tmp_path, f"head -c 3000000 /dev/urandom; touch {ended}",
                                     f"i=0; while [ ! -e {ended} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
                                     f"[ -e {ended} ] || exit 3; cat > {seen}")
    _dump_reaches_everywhere(settings, stream, s3, seen, 3000000)


def test_follow_passes_on_only_what_was_written_and_stops_when_the_writer_finishes(tmp_path):
    path = tmp_path / "growing"
    path.write_bytes(b"abcdef")
    written, blocks = tool.Written(), []
    written.grew(4)                      # "ef" is in the file but not yet announced
    follower = threading.Thread(target=tool.follow, args=(path, written, [blocks.append]), kwargs={"read_size": 3})
    follower.start()
    wait_until(lambda: b"".join(blocks) == b"abcd", "the announced bytes", 5, interval=0.01)
    written.grew(2)
    written.finish()
    follower.join(5)
    assert not follower.is_alive() and blocks == [b"abc", b"d", b"ef"]


def test_the_socket_directory_is_found_through_the_containers_root(monkeypatch, tmp_path):
    def inspect(pid):
        return lambda command, **_: subprocess.CompletedProcess(command, 0 if pid else 1, stdout=pid, stderr="")
    monkeypatch.setattr(tool.subprocess, "run", inspect(f"{os.getpid()}\n"))
    monkeypatch.setattr(tool, "CONTAINER_SOCKET_DIR", str(tmp_path).lstrip("/"))
    assert tool.postgres_socket_dir() is None                  # no socket there: pg_dump runs in the container
    (tmp_path / ".s.PGSQL.5432").touch()
    assert tool.postgres_socket_dir() == f"/proc/{os.getpid()}/root{tmp_path}"
    monkeypatch.setattr(tool.subprocess, "run", inspect(""))   # the container is not running
    assert tool.postgres_socket_dir() is None


def test_a_failed_verify_aborts_the_upload_and_removes_the_partial_dump(monkeypatch, tmp_path):
    s3, stream, settings = _pipeline(monkeypatch, tmp_path, "head -c 20000 /dev/zero",
                                     "cat > /dev/null; echo 'pg_restore: error: could not read input file: "
                                     "end of file' >&2; exit 1")
    with pytest.raises(tool.BackupError, match="checking .* with pg_restore failed: .*end of file"):
        tool.dump_database(settings, stream, DUMP)
    assert ("abort", "backups/x.dump") in s3.calls and s3.objects == {}
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    with pytest.raises(tool.BackupError):
        stream.complete()
    assert s3.objects == {}


def test_a_failed_dump_aborts_the_upload(monkeypatch, tmp_path):
    s3, stream, settings = _pipeline(monkeypatch, tmp_path, "head -c 9000 /dev/zero; echo 'connection lost' >&2; "
                                                            "exit 1", "cat > /dev/null")
    with pytest.raises(tool.BackupError, match="pg_dump of timewarp failed: connection lost"):
        tool.dump_database(settings, stream, DUMP)
    assert s3.objects == {} and not list(tmp_path.iterdir())


def test_a_server_newer_than_the_hosts_client_says_what_to_do(monkeypatch, tmp_path):
    s3, stream, settings = _pipeline(monkeypatch, tmp_path, "echo 'pg_dump: error: aborting because of server "
                                                            "version mismatch' >&2; exit 1", "cat > /dev/null")
    with pytest.raises(tool.BackupError, match="version mismatch .*must be the server's major version: bake "
                                               "the image again with backup_packages naming postgresql-client-"):
        tool.dump_database(settings, stream, DUMP)
    assert s3.objects == {} and not list(tmp_path.iterdir())


def test_the_media_manifest_counts_and_fingerprints_the_tree():
    files = {"b/two.png": "2" * 64, "a.txt": "1" * 64}
    listing = tool.media_listing(files)
    assert listing["count"] == 2 and len(listing["fingerprint"]) == 64
    assert tool.media_listing({**files, "a.txt": "3" * 64})["fingerprint"] != listing["fingerprint"]
    assert tool.media_listing({"a.txt": "1" * 64, "b/two.png": "2" * 64}) == listing
    assert tool.compare_media(files, dict(files)) == []
    assert tool.compare_media(files, {"a.txt": "0" * 64, "c": "9" * 64}) == [
        "b/two.png: missing", "c: not in the backup", "a.txt: other content"]


def test_media_go_up_as_a_tar_and_come_back_checked(monkeypatch, tmp_path):
    media = tmp_path / "media"
    (media / "avatars").mkdir(parents=True)
    (media / "avatars" / "ada.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 40)
    (media / "cv.pdf").write_bytes(b"%PDF-1.7 cv")
    settings = tool.Settings(bucket="b", database="timewarp", db_user="timewarp", host="h",
                             backup_dir=str(tmp_path / "backups"), releases_dir=str(tmp_path / "releases"),
                             media_dir=str(media))
    s3 = FakeS3()
    sent = tool.upload_media(settings, lambda: s3, DUMP)
    assert sent["key"] == "backups/timewarp-20261125T030400Z.media.tar" and sent["count"] == 2
    assert sent["files"] == {"avatars/ada.png": tool.sha256_of(media / "avatars/ada.png"),
                             "cv.pdf": tool.sha256_of(media / "cv.pdf")}
    assert hashlib.sha256(s3.objects[sent["key"]]).hexdigest() == sent["sha256"]

    staging = tool.fetch_media(settings, s3, {"media": sent})
    assert staging.parent == tmp_path and tool.files_in(staging) == sent["files"]
    (media / "cv.pdf").write_bytes(b"changed since")
    (media / "new.txt").write_bytes(b"added since")
    aside = tool.swap_media(settings, staging)
    assert tool.files_in(media) == sent["files"] and not staging.exists()
    tool.unswap_media(settings, aside)
    assert sorted(tool.files_in(media)) == ["avatars/ada.png", "cv.pdf", "new.txt"]


def test_a_damaged_media_archive_is_refused_and_leaves_no_staging(tmp_path):
    settings = tool.Settings(bucket="b", database="timewarp", db_user="timewarp", host="h",
                             media_dir=str(tmp_path / "media"))
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.txt").write_bytes(b"x" * 3000)
    s3 = FakeS3()
    sent = tool.upload_media(settings, lambda: s3, DUMP)
    s3.objects[sent["key"]] = s3.objects[sent["key"]][:1500]
    with pytest.raises(tool.BackupError, match="unpacking .* failed|does not match|differ"):
        tool.fetch_media(settings, s3, {"media": sent})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["media"]


def test_no_media_directory_is_fine_and_says_so(tmp_path, capsys):
    settings = tool.Settings(bucket="b", database="d", db_user="u", host="h", media_dir=str(tmp_path / "none"))
    assert tool.upload_media(settings, lambda: FakeS3(), DUMP) is None
    assert f"no {tmp_path / 'none'} on this host: no media files to back up" in capsys.readouterr().out


def test_unchanged_media_are_copied_inside_s3_and_changed_ones_sent_again(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.txt").write_bytes(b"first")
    settings = tool.Settings(bucket="b", database="timewarp", db_user="timewarp", host="h", media_dir=str(media))
    s3 = FakeS3()
    first = tool.upload_media(settings, lambda: s3, DUMP)
    tool.upload_manifest(settings, s3, DUMP, f"backups/{DUMP}", 7, "0" * 64, first)
    previous = {"backup": DUMP, "key": first["key"], "stat": first["stat"]}

    s3.calls.clear()
    later = "timewarp-20261126T030400Z.dump"
    copied = tool.upload_media(settings, lambda: s3, later, previous)
    assert s3.calls == [("copy", first["key"], "backups/timewarp-20261126T030400Z.media.tar")]
    assert copied["files"] == first["files"] and copied["sha256"] == first["sha256"]

    s3.calls.clear()
    (media / "a.txt").write_bytes(b"second, longer")
    sent = tool.upload_media(settings, lambda: s3, "timewarp-20261127T030400Z.dump", previous)
    assert [call[0] for call in s3.calls] == ["create", "part", "complete"]
    assert sent["files"]["a.txt"] == hashlib.sha256(b"second, longer").hexdigest()


def test_copies_ask_s3_to_refuse_an_existing_key():
    """CopyObject's request on the wire carries `If-None-Match: *` (what the host role demands of
    every write), added by a hook since older botocore has no parameter for it."""
    import boto3
    from botocore.awsrequest import AWSResponse

    class CopyAnswer:
        def stream(self, **_):
            yield b"<CopyObjectResult><ETag>x</ETag></CopyObjectResult>"

    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    sent = []

    def answer(request, **_):
        sent.append(dict(request.headers))
        return AWSResponse(request.url, 200, {}, CopyAnswer())

    s3.meta.events.register("before-send.s3", answer)
    tool.refuse_overwrites(s3)
    s3.copy_object(Bucket="b", Key="backups/new.media.tar", CopySource={"Bucket": "b", "Key": "backups/old.media.tar"})
    assert sent[0]["If-None-Match"] in (b"*", "*")


def test_the_run_record_keeps_the_last_media_archive_for_the_next_run(monkeypatch, tmp_path):
    _fake_steps(monkeypatch, tmp_path)
    seen = []

    def media(settings, s3, name, previous):
        seen.append(previous)
        return {"key": f"backups/{tool.media_name(name)}", "stat": "f" * 64}

    monkeypatch.setattr(tool, "upload_media", media)
    tool.run_backup(_settings_in(tmp_path))
    tool.run_backup(_settings_in(tmp_path))
    assert seen == [None, {"backup": DUMP, "key": "backups/timewarp-20261125T030400Z.media.tar", "stat": "f" * 64}]
    record = json.loads((tmp_path / tool.RUN_RECORD).read_text())
    assert record["media"] == seen[1] and record["ok"]
