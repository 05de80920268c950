"""onehost-backup's pure parts: names, retention, row counts from a dump, the command lines."""

import importlib.util
import json
import sys
from datetime import UTC, datetime

import pytest

from deploy.settings import BackupSettings
from deploy.tasks import backups
from onehost.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("onehost_backup",
                                              REPO_ROOT / "deploy/rootfs/usr/local/sbin/onehost-backup.py")
tool = importlib.util.module_from_spec(_spec)
sys.modules["onehost_backup"] = tool   # dataclasses look their module up there
_spec.loader.exec_module(tool)

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
                                           "--no-owner", "--username", "timewarp", "timewarp"]
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
    """run_backup's steps that touch the world, replaced: a 7-byte dump, S3 answering or not."""
    def dump(settings):
        path = tmp_path / DUMP
        path.write_bytes(b"PGDMP..")
        return path

    def upload(settings, s3, path):
        if upload_error:
            raise tool.BackupError(upload_error)
        return f"backups/{path.name}"

    monkeypatch.setattr(tool, "_clients", lambda settings: ("s3", "cloudwatch"))
    monkeypatch.setattr(tool, "dump_database", dump)
    monkeypatch.setattr(tool, "upload", upload)
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
