"""Backups by behaviour on the test instance, with S3 and CloudWatch served by moto.

moto runs on this machine's 127.0.0.1; an SSH reverse tunnel makes it the instance's
127.0.0.1 too, so onehost-backup on the instance talks to it as it would to AWS. The deploy
writes the backup settings (bucket, endpoint, a credentials file) as a user would.
"""

import hashlib
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import boto3
import pytest

from onehost.local.instance import wait_until
from onehost.paths import REPO_ROOT
from tests.host.conftest import APP_IMAGE
from tests.moto_server import FAKE_CREDENTIALS, moto_server, reverse_tunnel, write_credentials_file

BUCKET = "timewarp-backups"
BACKUP_DIR = "/data/backups"


@dataclass
class BackupHost:
    instance: object
    endpoint: str
    port: str
    s3: object
    cloudwatch: object
    credentials: object = None
    tunnel: subprocess.Popen | None = None

    def backup(self, *args: str) -> subprocess.CompletedProcess:
        return self.instance.inner("/usr/local/sbin/onehost-backup", *args, check=False)

    def objects(self) -> list[str]:
        return sorted(item["Key"] for item in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))

    def dumps(self) -> list[str]:
        return [key for key in self.objects() if key.endswith(".dump")]

    def manifest(self, key: str) -> dict:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key + ".manifest.json")["Body"].read())

    def open_tunnel(self) -> None:
        config = self.instance.config
        self.tunnel = reverse_tunnel(str(config.ssh_config), config.name, self.port)
        wait_until(lambda: self.instance.inner("curl", "--silent", "--fail", f"{self.endpoint}/moto-api/",
                                               check=False).returncode == 0, "moto through the tunnel", 20)

    def close_tunnel(self) -> None:
        if self.tunnel:
            self.tunnel.terminate()
            self.tunnel.wait(timeout=10)
            self.tunnel = None


@pytest.fixture(scope="module")
def backups(test_instance, deployed, deployer, tmp_path_factory):
    credentials = write_credentials_file(tmp_path_factory.mktemp("aws") / "credentials")
    with moto_server() as endpoint:
        session = boto3.session.Session(aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"])
        host = BackupHost(test_instance, endpoint, endpoint.rsplit(":", 1)[1],
                          session.client("s3", endpoint_url=endpoint),
                          session.client("cloudwatch", endpoint_url=endpoint), credentials)
        host.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        host.open_tunnel()
        deployer.run({"image": APP_IMAGE, "backup_bucket": BUCKET, "aws_endpoint_url": endpoint,
                      "backup_aws_credentials": str(credentials)})
        try:
            yield host
        finally:
            host.close_tunnel()
            # Back to the session's deployment (no backup settings) for the modules after this one.
            deployer.run({"image": APP_IMAGE, "backups": "off"})


def create_events(instance, count: int) -> list[int]:
    ids = []
    for number in range(count):
        status, body = instance.request("POST", "/api/events/", {
            "title": f"Backed up {uuid.uuid4().hex[:8]} #{number}", "happened_at": "1969-07-20T20:17:00Z"})
        assert status == 201, body
        ids.append(body["id"])
    return ids


def backup_succeeded_points(host: BackupHost) -> float:
    stats = host.cloudwatch.get_metric_statistics(
        Namespace="onehost", MetricName="BackupSucceeded", Statistics=["Sum"], Period=60,
        StartTime=time.time() - 3600, EndTime=time.time() + 60,
        Dimensions=[{"Name": "Host", "Value": host.instance.config.name}])
    return sum(point["Sum"] for point in stats["Datapoints"])


def test_backup_then_restore_brings_every_row_back(backups):
    instance = backups.instance
    ids = create_events(instance, 5)
    result = backups.backup("run")
    assert result.returncode == 0, result.stdout + result.stderr
    [key] = [key for key in backups.dumps() if key.startswith("backups/timewarp-")][-1:]
    head = backups.s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    manifest = backups.manifest(key)
    assert manifest["dump"]["size"] == head["ContentLength"] and len(manifest["dump"]["sha256"]) == 64
    tags = {tag["Key"]: tag["Value"] for tag in backups.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}
    assert tags["database"] == "timewarp" and tags["host"] == instance.config.name
    assert tags["release"] == instance.readlink("/data/releases/current").rsplit("/", 1)[1]
    assert backup_succeeded_points(backups) >= 1
    # The dump the container's pg_restore reads back below is zstd-compressed (DUMP_COMPRESSION).
    local = f"{BACKUP_DIR}/{key.rsplit('/', 1)[1]}"
    assert "Compression: zstd" in instance.inner("pg_restore", "--list", local).stdout

    for event_id in ids:
        assert instance.request("DELETE", f"/api/events/{event_id}/")[0] == 204
    assert instance.get(f"/api/events/{ids[0]}/")[0] == 404

    restored = backups.backup("restore", "latest", "--replace-live")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "is the restored database; the app is healthy on it" in restored.stdout
    instance.wait_for_health(timeout=60)
    for event_id in ids:
        status, body = instance.get(f"/api/events/{event_id}/")
        assert status == 200, body
    databases = instance.psql("SELECT string_agg(datname, ',') FROM pg_database")
    assert "before_restore" not in databases and "timewarp_restore" not in databases


MEDIA = "/data/media"
# Files as the app would leave them: nested, binary, a name with a space, owned by the app's user.
MEDIA_FILES = {"avatars/ada.png": "printf '\\211PNG'; head -c 300000 /dev/urandom",
               "uploads/2026/cv of ada.pdf": "printf '%%PDF-1.7 cv'",
               "empty.txt": "true"}


def media_state(instance) -> str:
    """Every file under /data/media: owner, size, SHA-256 and path, sorted."""
    return instance.inner("sh", "-c", f"cd {MEDIA} && find . -type f -print0 | sort -z | xargs -0 -r sha256sum "
                                      "&& find . -type f -printf '%U:%G %s %p\\n' | sort").stdout


@pytest.fixture
def media_put_back(backups):
    """/data/media as the test found it afterwards: its files and its owner. Emptied and refilled
    in place, never removed: the live app container bind-mounts the directory itself, and a new
    directory at the path would not be the one it writes uploads into."""
    instance = backups.instance
    saved = "/var/tmp/onehost-media-before.tar"
    instance.inner("sh", "-c", f"mkdir -p {MEDIA} && stat -c %u:%g {MEDIA} > {saved}.owner "
                               f"&& tar -C {MEDIA} -cpf {saved} .")
    yield
    instance.inner("sh", "-c", f"find {MEDIA} -mindepth 1 -delete && tar -C {MEDIA} -xpf {saved} "
                               f"&& chown \"$(cat {saved}.owner)\" {MEDIA} && rm -f {saved} {saved}.owner")


def test_rows_and_media_files_come_back_identical_into_a_fresh_data_state(backups, media_put_back):
    instance = backups.instance
    ids = create_events(instance, 3)
    instance.inner("sh", "-c", f"find {MEDIA} -mindepth 1 -delete && chown 1000:1000 {MEDIA}")
    for path, content in MEDIA_FILES.items():
        instance.inner("sh", "-c", f"mkdir -p \"{MEDIA}/$(dirname '{path}')\" && ({content}) > '{MEDIA}/{path}' "
                                   f"&& chown -R 1000:1000 {MEDIA}")
    files_before = media_state(instance)
    rows_before = instance.psql("SELECT string_agg(id || ':' || title, ',' ORDER BY id) FROM events_event")

    result = backups.backup("run")
    assert result.returncode == 0, result.stdout + result.stderr
    first = backups.dumps()[-1]
    media = backups.manifest(first)["media"]
    assert media["count"] == 3 and media["key"] in backups.objects()
    # Nothing changed: the next backup copies the archive inside S3; the restore below uses it.
    next_second(instance)
    again = backups.backup("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"media: 3 files unchanged since {first.removeprefix('backups/')}" in again.stdout
    key = backups.dumps()[-1]
    copied = backups.manifest(key)["media"]
    assert key != first and copied["key"] != media["key"] and copied["key"] in backups.objects()
    assert (copied["sha256"], copied["files"]) == (media["sha256"], media["files"])

    # A fresh data state: the rows gone, the media directory emptied and something else in it.
    for event_id in ids:
        assert instance.request("DELETE", f"/api/events/{event_id}/")[0] == 204
    instance.inner("sh", "-c", f"rm -rf {MEDIA}/* && echo stray > {MEDIA}/stray.txt")

    restored = backups.backup("restore", key.removeprefix("backups/"), "--replace-live")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "media: 3 files unpacked and checked against the manifest" in restored.stdout
    instance.wait_for_health(timeout=60)
    assert instance.psql("SELECT string_agg(id || ':' || title, ',' ORDER BY id) FROM events_event") == rows_before
    assert media_state(instance) == files_before
    assert instance.inner("stat", "-c", "%u:%g", MEDIA).stdout.strip() == "1000:1000"
    leftovers = instance.inner("sh", "-c", "ls -a /data | grep -c 'media-' || true").stdout.strip()
    assert leftovers == "0"

    drill = backups.backup("drill")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "media: 3 files unpacked and checked against the manifest" in drill.stdout


# On the root filesystem: /run is the instance's --tmpfs, which Docker mounts noexec by default
# (docker/docs#8138; docs.docker.com/engine/storage/tmpfs/, "Options for --tmpfs"): a stand-in
# there would not run, and PATH would silently fall through to the real docker.
CUT = "/var/tmp/onehost-cut"


def test_a_dump_cut_short_fails_the_check_and_leaves_no_object(backups):
    """pg_dump's output loses its last bytes but the command still exits 0 (stand-ins first in
    PATH: `pg_dump` for the host's client through the container's socket, `docker` for pg_dump in
    the container): the streaming check must catch it and S3 must end with no new object and no
    upload in progress."""
    instance = backups.instance
    before = backups.objects()
    cut = f"head -c $(( $(stat -c %s {CUT}/full) - 64 )) {CUT}/full; exit 0"
    # pg_dump writes into a pipe, as onehost-backup has it: into a file it would seek back and
    # write its data offsets, and pg_restore would then not read up to a cut end.
    stand_ins = {"pg_dump": f'#!/bin/sh\n/usr/bin/pg_dump "$@" | cat > {CUT}/full\n{cut}\n',
                 "docker": f'#!/bin/sh\ncase "$*" in *pg_dump*)\n  /usr/bin/docker "$@" > {CUT}/full || exit 1\n'
                           f'  {cut};;\nesac\nexec /usr/bin/docker "$@"\n'}
    for name, script in stand_ins.items():
        subprocess.run(["docker", "exec", "-i", instance.config.name, "sh", "-c",
                        f"mkdir -p {CUT} && cat > {CUT}/{name} && chmod +x {CUT}/{name}"],
                       input=script, text=True, check=True)
    try:
        result = instance.inner("env", f"PATH={CUT}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                "/usr/local/sbin/onehost-backup", "run", check=False)
    finally:
        instance.inner("rm", "-rf", CUT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "with pg_restore failed" in result.stderr, result.stderr
    assert backups.objects() == before
    assert backups.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert not instance.inner("sh", "-c", f"ls {BACKUP_DIR}/*.partial 2>/dev/null || true").stdout.strip()


def test_restore_without_replace_live_only_checks(backups):
    before = backups.instance.psql("SELECT count(*) FROM events_event")
    result = backups.backup("restore")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checked only; add --replace-live" in result.stdout
    assert backups.instance.psql("SELECT count(*) FROM events_event") == before


def next_second(instance) -> None:
    """Names carry the second: start each backup in a second of its own."""
    clock = ["date", "-u", "+%s"]
    started = instance.inner(*clock).stdout
    wait_until(lambda: instance.inner(*clock).stdout != started, "the next second", 5, interval=0.1)


def test_local_copies_beyond_the_newest_two_are_removed_after_upload(backups):
    for _ in range(2):
        next_second(backups.instance)
        assert backups.backup("run").returncode == 0
    local = backups.instance.inner("sh", "-c", f"ls {BACKUP_DIR}/timewarp-*.dump").stdout.split()
    assert len(local) == 2
    assert all(f"backups/{path.rsplit('/', 1)[1]}" in backups.objects() for path in local)


def test_the_drill_compares_counts_and_drops_its_database(backups):
    result = backups.backup("drill")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "public.events_event" in result.stdout and "drill passed" in result.stdout
    assert "timewarp_drill" not in backups.instance.psql("SELECT string_agg(datname, ',') FROM pg_database")


def test_the_drill_fails_loudly_on_a_corrupted_backup(backups):
    newest = backups.dumps()[-1]
    body = backups.s3.get_object(Bucket=BUCKET, Key=newest)["Body"].read()
    corrupt_key = "backups/timewarp-29991231T235959Z.dump"
    damaged = body[: len(body) // 2]
    backups.s3.put_object(Bucket=BUCKET, Key=corrupt_key, Body=damaged,
                          Metadata={"sha256": hashlib.sha256(damaged).hexdigest()})
    try:
        result = backups.backup("drill")
        assert result.returncode == 1
        assert "drill failed" in result.stderr and "timewarp-29991231T235959Z.dump" in result.stderr
        assert "timewarp_drill" not in backups.instance.psql("SELECT string_agg(datname, ',') FROM pg_database")
    finally:
        backups.s3.delete_object(Bucket=BUCKET, Key=corrupt_key)


def test_a_full_disk_fails_the_dump_uploads_nothing_and_keeps_older_dumps(backups):
    instance = backups.instance
    before_local = instance.inner("sh", "-c", f"ls {BACKUP_DIR}").stdout
    before_remote = backups.objects()
    # A tiny filesystem over the backups directory, with the settings and credentials in it.
    instance.inner("sh", "-c", f"mkdir -p /run/full && mount -t tmpfs -o size=12k tmpfs /run/full && "
                               f"cp {BACKUP_DIR}/config.json {BACKUP_DIR}/aws-credentials /run/full/ && "
                               f"sed -i 's|\"backup_dir\": \"{BACKUP_DIR}\"|\"backup_dir\": \"/run/full\"|' "
                               "/run/full/config.json")
    try:
        result = backups.backup("--config", "/run/full/config.json", "run")
        assert result.returncode == 1
        assert "no space left on device" in result.stderr.lower(), result.stderr
        # No dump and no partial file left; the run's record (for `onehost status`) says why.
        assert instance.inner("ls", "/run/full").stdout.split() == ["aws-credentials", "config.json",
                                                                    "last-run.json"]
        record = json.loads(instance.inner("cat", "/run/full/last-run.json").stdout)
        assert (record["ok"], record["backup"], record["uploaded"]) == (False, None, False)
        assert "no space left on device" in record["error"].lower()
    finally:
        instance.inner("umount", "/run/full", check=False)
    assert backups.objects() == before_remote
    assert instance.inner("sh", "-c", f"ls {BACKUP_DIR}").stdout == before_local


def test_s3_unreachable_retries_then_fails_keeping_the_dump_and_no_heartbeat(backups):
    instance = backups.instance
    heartbeats = backup_succeeded_points(backups)
    backups.close_tunnel()
    try:
        result = backups.backup("run")
    finally:
        backups.open_tunnel()
    assert result.returncode == 1
    assert "upload attempt 1 failed" in result.stdout
    assert "failed 5 times" in result.stderr and "is kept" in result.stderr
    kept = result.stderr.split(": ")[-1].split(" is kept")[0]
    assert instance.inner("test", "-s", kept, check=False).returncode == 0, kept
    assert backup_succeeded_points(backups) == heartbeats


def test_the_database_down_is_a_clear_error(backups):
    instance = backups.instance
    instance.inner("docker", "stop", "data-postgres-1")
    try:
        result = backups.backup("run")
        assert result.returncode == 1
        assert "pg_dump of timewarp failed" in result.stderr and "not running" in result.stderr
        assert not instance.inner("sh", "-c", f"ls {BACKUP_DIR}/*.partial 2>/dev/null || true").stdout.strip()
    finally:
        instance.inner("docker", "start", "data-postgres-1")
        wait_until(lambda: instance.inner("docker", "inspect", "--format", "{{.State.Health.Status}}",
                                          "data-postgres-1").stdout.strip() == "healthy", "PostgreSQL", 60)
    instance.wait_for_health(timeout=60)


@pytest.mark.parametrize(("args", "message"), [
    (("restore", "timewarp-20000101T000000Z.dump"), "no backup named timewarp-20000101T000000Z.dump"),
])
def test_a_backup_that_does_not_exist(backups, args, message):
    before = backups.instance.psql("SELECT count(*) FROM events_event")
    result = backups.backup(*args)
    assert result.returncode == 1 and message in result.stderr
    assert backups.instance.psql("SELECT count(*) FROM events_event") == before


def _config_variant(backups, name: str, **changes) -> str:
    """A copy of the deployed settings with some values changed, in its own directory."""
    directory = f"/run/{name}"
    settings = json.loads(backups.instance.inner("cat", f"{BACKUP_DIR}/config.json").stdout)
    settings.update(backup_dir=directory, **changes)
    subprocess.run(["docker", "exec", "-i", backups.instance.config.name, "sh", "-c",
                    f"mkdir -p {directory} && cat > {directory}/config.json"],
                   input=json.dumps(settings), text=True, check=True)
    return directory


def test_a_bucket_that_does_not_exist_is_refused_and_the_dump_kept(backups):
    directory = _config_variant(backups, "no-bucket", bucket="no-such-bucket")
    backups.instance.inner("cp", f"{BACKUP_DIR}/aws-credentials", directory)
    result = backups.backup("--config", f"{directory}/config.json", "run")
    assert result.returncode == 1
    assert "refused (NoSuchBucket)" in result.stderr and "is kept" in result.stderr


def test_missing_credentials_are_a_clear_error(backups):
    directory = _config_variant(backups, "no-credentials")
    result = backups.backup("--config", f"{directory}/config.json", "run")
    assert result.returncode == 1
    assert "no AWS credentials" in result.stderr


def test_the_restore_deploy_file_checks_the_latest_and_changes_nothing(backups, deployer):
    before = backups.instance.psql("SELECT count(*) FROM events_event")
    result = deployer.run({"backup": "latest"}, deploy_file="restore.py")
    assert "Restore latest into a scratch database" in result.stdout + result.stderr
    assert backups.instance.psql("SELECT count(*) FROM events_event") == before


def test_the_restore_deploy_file_refuses_a_bad_name(backups, deployer):
    result = deployer.run({"backup": "../../etc/passwd"}, deploy_file="restore.py", check=False)
    assert result.returncode != 0
    assert "is not a backup name" in result.stdout + result.stderr


def test_the_console_lists_each_hosts_backups(backups, instance_environ):
    if not backups.objects():  # run alone: no earlier test has uploaded a dump
        made = backups.backup("run")
        assert made.returncode == 0, made.stdout + made.stderr
    result = subprocess.run([sys.executable, "-m", "onehost.cli", "backups", "list"], cwd=REPO_ROOT,
                            env=instance_environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    newest = backups.dumps()[-1].removeprefix("backups/")
    assert f"{backups.instance.config.name}:" in result.stdout and newest in result.stdout


def test_a_deploy_that_names_no_bucket_keeps_the_hosts_backups(backups, deployer):
    """A CI deploy passes the image and the env file; the nightly backup must go on."""
    result = deployer.run({"image": APP_IMAGE})
    assert "the host keeps its backup settings" in result.stdout + result.stderr
    before = backups.dumps()
    run = backups.backup("run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(backups.dumps()) == len(before) + 1


def test_backups_off_stops_the_nightly_backup_with_a_warning_and_keeps_every_dump(backups, deployer):
    in_s3, local = backups.objects(), backups.instance.inner("ls", BACKUP_DIR).stdout.split()
    try:
        result = deployer.run({"image": APP_IMAGE, "backups": "off"})
        assert "backups=off: this host's backup settings are removed" in result.stdout + result.stderr
        # What the timer starts now skips itself (ConditionPathExists= on the settings).
        backups.instance.inner("systemctl", "start", "onehost-backup.service")
        condition = backups.instance.inner("systemctl", "show", "--property", "ConditionResult",
                                           "onehost-backup.service").stdout.strip()
        assert condition == "ConditionResult=no"
        assert backups.objects() == in_s3
        remaining = backups.instance.inner("ls", BACKUP_DIR).stdout.split()
        assert set(local) - {"config.json", "aws-credentials"} <= set(remaining)
    finally:
        deployer.run({"image": APP_IMAGE, "backup_bucket": BUCKET, "aws_endpoint_url": backups.endpoint,
                      "backup_aws_credentials": str(backups.credentials)})
