"""The SQLite data move: inputs, command lines, the comparison, and the steps in order (a fake host).

The in-container script is also run here, on this machine, against the example project with
two SQLite files (the script does not care which engine `default` is), so its dumpdata/loaddata
and checksums are checked without a host.
"""

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from onehost.commands import lock as deploy_lock
from onehost.commands import sqlite_import, switch
from onehost.commands.sqlite_import import ImportFailed, ImportPlan, ImportRefused, TableComparison, VerificationFailed
from onehost.commands.switch import HostLayout
from onehost.paths import REPO_ROOT
from onehost.remote.sqlite_import import DJANGO_SIDE, SqliteImport

PLAN = ImportPlan(staging_dir="/data/imports/db-0123456789ab", image="timewarp:pinned-abc",
                  release_dir="/data/releases/r1",
                  layout=HostLayout(data_dir="/data", network="onehost", app_port=8000, server_name="localhost"),
                  db_user="timewarp",
                  db_name="timewarp")
OWNER = deploy_lock.LockOwner(who="ci", origin="runner", pid=7, started_at="t", token="tok")
WHEN = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)
DUMP = "/data/backups/pre-import-20261130T120005Z.dump"


def report(payload: dict) -> str:
    return sqlite_import.MARKER + json.dumps(payload)


def state(rows, checksum="c"):
    return {"rows": rows, "checksum": None if rows is None else checksum}


def verification(*entries) -> dict:
    return {"tables": [{"model": model, "table": table, "sqlite": sqlite, "target": target}
                       for model, table, sqlite, target in entries]}


EQUAL = verification(("events.Event", "events_event", state(3, "a"), state(3, "a")),
                     ("auth.User", "auth_user", state(0, "e"), state(0, "e")))
INSPECTION = {"vendor": "postgresql", "recreated_tables": ["django_migrations", "django_content_type",
                                                           "auth_permission"],
              "target_rows": {"django_migrations": 15, "django_content_type": 5, "auth_permission": 20,
                              "events_event": 0, "auth_user": 0},
              "sqlite": {"migrated": True, "pending": [], "unknown": []}}


# --- inputs ------------------------------------------------------------------------------

def test_the_file_must_be_given_exist_and_be_sqlite(tmp_path):
    with pytest.raises(ImportRefused, match="no SQLite file given: pass it with --data sqlite=PATH"):
        sqlite_import.check_sqlite_file(None)
    with pytest.raises(ImportRefused, match="does not exist"):
        sqlite_import.check_sqlite_file(str(tmp_path / "nope.sqlite3"))
    dump = tmp_path / "dump.sql"
    dump.write_text("BEGIN TRANSACTION;\nCREATE TABLE t (id integer);\n")
    with pytest.raises(ImportRefused, match=r"dump.sql is not an SQLite database .*not a dump or an archive"):
        sqlite_import.check_sqlite_file(str(dump))
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")
    with pytest.raises(ImportRefused, match="is not an SQLite database"):
        sqlite_import.check_sqlite_file(str(empty))
    real = tmp_path / "db.sqlite3"
    sqlite3.connect(real).execute("CREATE TABLE t (id integer)").connection.close()
    assert sqlite_import.check_sqlite_file(str(real)) == real


def test_the_staging_name_is_the_stem_and_the_content_hash_made_safe(tmp_path):
    assert sqlite_import.staging_name(tmp_path / "db.sqlite3", "0123456789abcdef") == "db-0123456789ab"
    assert (sqlite_import.staging_name(tmp_path / "my data; rm -rf.sqlite3", "f" * 64)
            == "my-data-rm--rf-ffffffffffff")
    assert sqlite_import.staging_name(tmp_path / "...", "a" * 64) == "sqlite-aaaaaaaaaaaa"


# --- command lines ------------------------------------------------------------------------

def test_the_script_runs_as_the_release_app_service_so_compose_reads_its_env():
    assert sqlite_import.in_container(PLAN, "import", "--flush") == [
        "env", "APP_IMAGE=timewarp:pinned-abc",
        "docker", "compose", "--project-name", "app-oneoff", "--file", "/data/releases/r1/compose.yaml",
        "--env-file", "/data/releases/r1/release.env", "run", "--rm", "--no-deps", "-T",
        "--env", "ONEHOST_SQLITE_FILE=/onehost-import/data.sqlite3",
        "--volume", "/data/imports/db-0123456789ab:/onehost-import",
        "app", "python", "/onehost-import/sqlite_import.py", "import", "--flush"]


def test_the_staging_directory_goes_to_the_image_user():
    assert sqlite_import.container_user("timewarp:pinned-abc") == [
        "docker", "run", "--rm", "--network", "none", "timewarp:pinned-abc",
        "python", "-c", "import os; print(os.getuid(), os.getgid())"]
    assert sqlite_import.parse_container_user("some entrypoint noise\n10001 10001\n") == (10001, 10001)
    with pytest.raises(switch.CommandError):
        sqlite_import.parse_container_user("python: not found")
    assert sqlite_import.hand_over("/data/imports/x", 10001, 10002) == [
        "chown", "-R", "10001:10002", "/data/imports/x"]


def test_the_dump_is_the_switch_pre_migration_dump_under_its_own_name():
    assert sqlite_import.pre_import_dump_path("/data/backups", WHEN) == DUMP
    assert sqlite_import.pg_dump(PLAN, DUMP) == switch.pg_dump("/data/stacks/data", "timewarp", "timewarp",
                                                               DUMP)


def test_the_way_back_is_a_pg_restore_of_the_dump():
    assert sqlite_import.restore_hint(PLAN, DUMP) == (
        "sudo sh -c 'docker compose --project-name data --file /data/stacks/data/compose.yaml "
        "--env-file /data/stacks/data/stack.env exec -T postgres pg_restore --clean --if-exists "
        "--single-transaction --no-owner --username timewarp --dbname timewarp < "
        "/data/backups/pre-import-20261130T120005Z.dump'")


# --- what the script says ---------------------------------------------------------------

def test_the_report_is_the_last_marked_line_and_the_rest_is_progress():
    output = "Operations to perform:\n" + report({"a": 1}) + "\n\n" + report({"a": 2}) + "\n"
    assert sqlite_import.parse_report(output) == {"a": 2}
    assert sqlite_import.parse_report("Traceback ...") is None
    assert sqlite_import.progress_lines(output) == ["Operations to perform:"]


def test_rows_in_tables_migrate_fills_do_not_count_as_data():
    assert sqlite_import.holding_rows(INSPECTION) == []
    held = {**INSPECTION, "target_rows": {**INSPECTION["target_rows"], "events_event": 4, "auth_user": 1}}
    assert sqlite_import.holding_rows(held) == [("auth_user", 1), ("events_event", 4)]
    assert sqlite_import.refusal([("auth_user", 1), ("events_event", 4)]) == (
        "the target database already holds rows: auth_user (1 row), events_event (4 rows). The import "
        "only fills an empty database; to replace those rows (after a dump of them), run again with "
        "--data replace_existing=true")


@pytest.mark.parametrize("change, message", [
    ({"vendor": "sqlite"}, "default database is sqlite, not PostgreSQL"),
    ({"sqlite": {"migrated": False, "pending": [], "unknown": []}}, "has no django_migrations table"),
    ({"sqlite": {"migrated": True, "pending": [], "unknown": ["events.0009_future"]}},
     r"migrations the deployed release does not know \(events.0009_future\): deploy the code"),
])
def test_a_target_or_file_that_cannot_match_is_refused(change, message):
    sqlite_import.check_inspection(INSPECTION)
    with pytest.raises(ImportRefused, match=message):
        sqlite_import.check_inspection({**INSPECTION, **change})


def test_the_comparison_table_lines_up_and_says_which_differ():
    rows = sqlite_import.compare(verification(
        ("events.Event", "events_event", state(3, "a"), state(2, "b")),
        ("auth.User", "auth_user", state(1, "x"), state(1, "y")),
        ("auth.Group", "auth_group", state(0, "e"), state(0, "e")),
        ("shop.Order", "shop_order", state(None), state(0, "e"))))
    assert sqlite_import.comparison_table(rows) == "\n".join([
        "table         SQLite rows  PostgreSQL rows  primary keys",
        "auth_group              0                0  same",
        "auth_user               1                1  DIFFERENT",
        "events_event            3                2  DIFFERENT",
        "shop_order        missing                0  DIFFERENT"])
    assert [row.table for row in sqlite_import.differences(rows)] == [
        "auth_user", "events_event", "shop_order"]


def test_the_failure_names_each_table_both_counts_and_the_dump():
    different = [TableComparison("events.Event", "events_event", 3, 2, False),
                 TableComparison("auth.User", "auth_user", 1, 1, False)]
    message = sqlite_import.failure_message(different, DUMP, PLAN)
    assert message.startswith("VERIFICATION FAILED: the databases differ in 2 table(s): events_event: 3 "
                              "rows in SQLite, 2 in PostgreSQL; auth_user: 1 rows in SQLite, 1 in "
                              "PostgreSQL, primary keys differ. To go back to the database as it was "
                              f"before the import, restore {DUMP}: sudo sh -c ")
    assert sqlite_import.failure_message(different, None, PLAN).endswith(
        "No pre-import dump was found on the host.")


# --- the steps, against a fake host ----------------------------------------------------------

class FakeHost:
    """Answers each command by its kind and keeps the order they came in."""

    def __init__(self, inspection=INSPECTION, verified=EQUAL, lock_free=True, import_ok=True):
        self.inspection, self.verified = inspection, verified
        self.lock_free, self.import_ok = lock_free, import_ok
        self.kinds: list[str] = []

    def __call__(self, command):
        kind = self.kind(command)
        self.kinds.append(kind)
        if kind == "acquire-lock":
            return self.lock_free, ""
        if kind == "inspect-lock":
            return True, '10 {"who": "alice", "from": "laptop", "pid": 1, "started_at": "t"}'
        if kind == "inspect":
            return True, "progress\n" + report(self.inspection)
        if kind == "import":
            return (True, report({"imported": True})) if self.import_ok else (False, "IntegrityError: boom")
        if kind == "verify":
            return True, report(self.verified)
        if kind == "uid":
            return True, "10001 10001"
        return True, ""

    @staticmethod
    def kind(command):
        if command[:2] == ["docker", "run"] and "-c" in command:
            return "uid"
        script = f"{sqlite_import.CONTAINER_DIR}/{sqlite_import.SCRIPT_NAME}"
        if "compose" in command and script in command:
            return command[command.index(script) + 1]
        if command[0] == "sh":
            return command[3] if len(command) > 3 else ("pg_dump" if "pg_dump" in command[2] else
                                                         "inspect-lock" if "stat -c" in command[2] else
                                                         "release-lock" if "grep -qs" in command[2] else "sh")
        return command[0]


def importer(fake, **plan_changes):
    plan = ImportPlan(**{**PLAN.__dict__, **plan_changes})
    lines = []
    return SqliteImport(plan, fake, say=lines.append, owner=OWNER, now=lambda: WHEN), lines


def test_an_import_locks_checks_dumps_imports_verifies_then_unlocks():
    fake = FakeHost()
    run, lines = importer(fake)
    rows = run.execute()
    assert fake.kinds == ["uid", "chown", "acquire-lock", "inspect", "pg_dump", "import", "verify",
                          "release-lock"]
    assert [row.table for row in rows] == ["auth_user", "events_event"]
    assert f"pre-import dump: {DUMP}" in lines
    assert "  progress" in lines
    assert any(line.startswith("comparison, SQLite file against PostgreSQL:\ntable ") for line in lines)


def test_a_target_with_rows_is_refused_before_the_dump_and_the_lock_is_released():
    fake = FakeHost(inspection={**INSPECTION, "target_rows": {"events_event": 3}})
    with pytest.raises(ImportRefused, match=r"already holds rows: events_event \(3 rows\)"):
        importer(fake)[0].execute()
    assert fake.kinds == ["uid", "chown", "acquire-lock", "inspect", "release-lock"]


def test_replace_existing_flushes_inside_the_import():
    fake = FakeHost(inspection={**INSPECTION, "target_rows": {"events_event": 3}})
    commands = []
    run, lines = importer(lambda command: (commands.append(command), fake(command))[1], replace_existing=True)
    run.execute()
    assert sqlite_import.in_container(run.plan, "import", "--flush") in commands
    assert "replace_existing: the rows of 1 table(s) will be replaced" in lines


def test_a_difference_fails_loudly_with_the_dump_of_this_run():
    fake = FakeHost(verified=verification(("events.Event", "events_event", state(3, "a"), state(2, "b"))))
    with pytest.raises(VerificationFailed,
                       match=f"events_event: 3 rows in SQLite, 2 in PostgreSQL.*restore {DUMP}"):
        importer(fake)[0].execute()
    assert fake.kinds[-1] == "release-lock"


def test_a_failed_import_names_the_dump_to_go_back_to():
    with pytest.raises(ImportFailed, match=f"IntegrityError: boom.*dumped first to {DUMP}"):
        importer(FakeHost(import_ok=False))[0].execute()


def test_verify_only_takes_no_lock_and_no_dump_and_finds_the_last_dump_when_it_fails():
    fake = FakeHost()
    importer(fake, verify_only=True)[0].execute()
    assert fake.kinds == ["uid", "chown", "verify"]
    failing = FakeHost(verified=verification(("events.Event", "events_event", state(3, "a"), state(2, "b"))))
    with pytest.raises(VerificationFailed, match="No pre-import dump was found"):
        importer(failing, verify_only=True)[0].execute()
    assert failing.kinds == ["uid", "chown", "verify", "latest-dump"]


def test_a_held_lock_refuses_before_the_target_is_read():
    fake = FakeHost(lock_free=False)
    with pytest.raises(deploy_lock.LockHeld, match="alice from laptop"):
        importer(fake)[0].execute()
    assert "inspect" not in fake.kinds


# --- the in-container script, here, with two SQLite files ---------------------------------------

SETTINGS = '''
import os
from timewarp.settings.test import *  # noqa: F403
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["TARGET_FILE"]}}
'''
ROWS = '''
from django.contrib.auth.models import Group, Permission, User
from events.models import Event
for event_id, title in [(1, "a"), (2, "Zürich ☃"), (5, "c")]:
    Event.objects.create(id=event_id, title=title, happened_at=f"2000-01-01T00:00:00.12345{event_id}Z")
user = User.objects.create(id=7, username="ada")
group = Group.objects.create(id=3, name="editors")
group.permissions.add(Permission.objects.get(codename="change_event"))
user.groups.add(group)
user.user_permissions.add(Permission.objects.get(codename="add_event"))
'''


def django(tmp_path, target, *arguments, sqlite=None):
    environ = {**os.environ, "PYTHONPATH": str(tmp_path), "DJANGO_SETTINGS_MODULE": "import_test_settings",
               "TARGET_FILE": str(target), "ONEHOST_SQLITE_FILE": str(sqlite or "")}
    result = subprocess.run([sys.executable, *arguments], cwd=REPO_ROOT / "example", env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def compared(tmp_path, target, script, source):
    return sqlite_import.compare(sqlite_import.parse_report(
        django(tmp_path, target, script, "verify", sqlite=source)))


def test_the_script_moves_rows_keeps_ids_and_m2m_and_sees_a_missing_row(tmp_path):
    (tmp_path / "import_test_settings.py").write_text(SETTINGS)
    source, target = tmp_path / "source.sqlite3", tmp_path / "target.sqlite3"
    for database in (source, target):
        django(tmp_path, database, "manage.py", "migrate", "--noinput", "--verbosity", "0")
    # Permissions made in another order in the target: their ids differ from the source's.
    with sqlite3.connect(target) as connection:
        connection.execute("UPDATE auth_permission SET id = id + 100")
    django(tmp_path, source, "manage.py", "shell", "--command", ROWS)
    script = str(DJANGO_SIDE / sqlite_import.SCRIPT_NAME)

    inspection = sqlite_import.parse_report(django(tmp_path, target, script, "inspect", sqlite=source))
    assert sqlite_import.holding_rows(inspection) == []
    django(tmp_path, target, script, "import", sqlite=source)
    rows = compared(tmp_path, target, script, source)
    assert {row.table: (row.sqlite_rows, row.target_rows, row.equal) for row in rows} == {
        "auth_group": (1, 1, True), "auth_group_permissions": (1, 1, True), "auth_user": (1, 1, True),
        "auth_user_groups": (1, 1, True), "auth_user_user_permissions": (1, 1, True),
        "events_event": (3, 3, True)}
    with sqlite3.connect(target) as connection:
        # Every value as it was, microseconds too (Django's own JSON would keep milliseconds only).
        query = "SELECT id, title, happened_at, created_at, updated_at FROM events_event ORDER BY id"
        assert connection.execute(query).fetchall() == sqlite3.connect(source).execute(query).fetchall()
        assert connection.execute("SELECT happened_at FROM events_event WHERE id = 5").fetchone() == (
            "2000-01-01 00:00:00.123455",)
        connection.execute("DELETE FROM events_event WHERE id = 2")
    rows = compared(tmp_path, target, script, source)
    assert [(row.table, row.sqlite_rows, row.target_rows) for row in sqlite_import.differences(rows)] == [
        ("events_event", 3, 2)]
    assert not (tmp_path / "sqlite-data.json").exists()     # the plain-text copy of the data is gone


def test_every_uploaded_file_is_in_the_package():
    for name in sqlite_import.CONTAINER_FILES:
        assert (DJANGO_SIDE / name).is_file()
