"""The SQLite data move: inputs, command lines, the comparison, and the steps in order (a fake host).

The in-container script is also run here, on this machine, against the example project with
two SQLite files (the script does not care which engine `default` is), so its dumpdata/loaddata,
what it leaves out and its row-by-row comparison are checked without a host; its pure parts are
imported and called directly.
"""

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from onehost.commands import lock as deploy_lock
from onehost.commands import sqlite_import, switch
from onehost.commands.sqlite_import import ImportFailed, ImportPlan, ImportRefused, VerificationFailed
from onehost.commands.switch import HostLayout
from onehost.django_side import sqlite_import as django_side
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


def table(model, name, sqlite: dict | None, target: dict | None) -> dict:
    """A verify entry as the in-container script makes it, from {key: values} of both sides."""
    return {"model": model, "table": name, **django_side.compare_rows(sqlite, target)}


def verification(*entries, left_out=None) -> dict:
    return {"tables": [table(*entry) for entry in entries], **({"left_out": left_out} if left_out else {})}


THREE = {1: b"a", 2: b"b", 5: b"c"}
EQUAL = verification(("events.Event", "events_event", THREE, THREE), ("auth.User", "auth_user", {}, {}))
GROWN = verification(("events.Event", "events_event", THREE, {**THREE, 6: b"d", 7: b"e"}),
                     ("auth.User", "auth_user", {}, {}))
MISSING = verification(("events.Event", "events_event", THREE, {1: b"a", 5: b"c"}))
INSPECTION = {"vendor": "postgresql", "recreated_tables": ["django_migrations", "django_content_type",
                                                           "auth_permission"],
              "target_rows": {"django_migrations": 15, "django_content_type": 5, "auth_permission": 20,
                              "events_event": 0, "auth_user": 0},
              "sqlite": {"migrated": True, "pending": [], "unknown": [], "uninstalled": []}}
DEVTOOLS_LEFT_OUT = {"apps": {"devtools": ["0001_initial", "0002_note_author"]}, "tables": ["devtools_note"],
                     "removed": {"auth.Group_permissions": 1, "auth.Permission": 4,
                                 "contenttypes.ContentType": 1}}


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


def test_a_refused_import_removes_only_its_own_staging_directory():
    assert sqlite_import.remove_staging(PLAN) == ["rm", "-rf", "--", "/data/imports/db-0123456789ab"]
    for staging_dir in ("/data/imports", "/data/imports/", "/data/imports/..", "/data", "/data/other/db-1"):
        with pytest.raises(ValueError, match="is not a staging directory under /data/imports"):
            sqlite_import.remove_staging(ImportPlan(**{**PLAN.__dict__, "staging_dir": staging_dir}))


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


def test_rows_in_a_table_the_file_leaves_empty_are_kept_not_refused():
    """A beat schedule writes its rows as soon as the first deploy starts it: the move that
    follows must not stop at them, and must not stop at a table the file does fill."""
    inspection = {**INSPECTION, "target_rows": {**INSPECTION["target_rows"], "jobs_tick": 2, "events_event": 1},
                  "sqlite_rows": {"jobs_tick": 0, "events_event": 3}}
    assert sqlite_import.holding_rows(inspection) == [("events_event", 1)]
    assert sqlite_import.kept_rows(inspection) == [("jobs_tick", 2)]
    assert sqlite_import.kept_note([("jobs_tick", 2)]) == (
        "kept as they are (the SQLite file has no rows there): jobs_tick (2 rows)")


def test_rows_in_tables_migrate_fills_do_not_count_as_data():
    assert sqlite_import.holding_rows(INSPECTION) == []
    held = {**INSPECTION, "target_rows": {**INSPECTION["target_rows"], "events_event": 4, "auth_user": 1}}
    assert sqlite_import.holding_rows(held) == [("auth_user", 1), ("events_event", 4)]
    assert sqlite_import.refusal([("auth_user", 1), ("events_event", 4)]) == (
        "the target database already holds rows: auth_user (1 row), events_event (4 rows). The import "
        "only fills empty tables; to replace those rows (after a dump of them), run again with "
        "--data replace_existing=true")


@pytest.mark.parametrize("change, message", [
    ({"vendor": "sqlite"}, "default database is sqlite, not PostgreSQL"),
    ({"sqlite": {"migrated": False, "pending": [], "unknown": [], "uninstalled": []}},
     "has no django_migrations table"),
    ({"sqlite": {"migrated": True, "pending": [], "unknown": ["events.0009_future"], "uninstalled": []}},
     r"migrations the deployed release does not know \(events.0009_future\): deploy the code"),
])
def test_a_target_or_file_that_cannot_match_is_refused(change, message):
    sqlite_import.check_inspection(INSPECTION)
    with pytest.raises(ImportRefused, match=message):
        sqlite_import.check_inspection({**INSPECTION, **change})


def test_migrations_of_apps_the_release_does_not_install_are_not_refused():
    dev_only = {"migrated": True, "pending": [], "unknown": [], "uninstalled": ["devtools.0001_initial"]}
    sqlite_import.check_inspection({**INSPECTION, "sqlite": dev_only})


# --- what is left out of the SQLite file (the in-container side's pure part) --------------------

def test_migrations_and_tables_of_apps_not_installed_are_left_out():
    applied = [("events", "0001_initial"), ("devtools", "0002_note_author"), ("auth", "0001_initial"),
               ("devtools", "0001_initial"), ("sessions", "0001_initial")]
    tables = ["auth_user", "devtools_note", "django_migrations", "django_session", "events_event",
              "Events_Legacy", "sqlite_stat1"]
    model_tables = ["auth_user", "events_event", "events_legacy"]      # db_table case may differ
    assert django_side.left_out(applied, {"auth", "events", "contenttypes"}, tables, model_tables) == {
        "apps": {"devtools": ["0001_initial", "0002_note_author"], "sessions": ["0001_initial"]},
        "tables": ["devtools_note", "django_session"]}
    assert django_side.left_out(applied[:1], {"events"}, ["events_event", "django_migrations"],
                                ["events_event"]) == {"apps": {}, "tables": []}


def test_the_warning_names_the_apps_the_tables_and_what_went_with_them():
    assert sqlite_import.left_out_warning(DEVTOOLS_LEFT_OUT) == (
        "WARNING: left out of the import (from the uploaded copy, not your file): migrations of apps this "
        "release does not install: devtools (2 migrations); tables no installed model uses: devtools_note; "
        "rows pointing at content types the release does not have: auth.Group_permissions 1, "
        "auth.Permission 4, contenttypes.ContentType 1. If the release should have that data, install "
        "the app, deploy, and import again with --data replace_existing=true")
    assert sqlite_import.left_out_warning({"apps": {}, "tables": [], "removed": {}}) is None
    assert sqlite_import.left_out_warning(None) is None


# --- the comparison, row by primary key -----------------------------------------------------------

def test_rows_are_compared_by_key_missing_changed_and_new_apart():
    sqlite = {1: b"a", 2: b"b", 3: b"c", 4: b"d"}
    target = {1: b"a", 2: b"B", 4: b"d", 9: b"x", 8: b"y"}
    assert django_side.compare_rows(sqlite, target) == {
        "sqlite_rows": 4, "target_rows": 5, "missing": {"count": 1, "keys": [3]},
        "changed": {"count": 1, "keys": [2]}, "new": {"count": 2, "keys": [8, 9]}}
    # No table in SQLite: every row of the target is new; none in the target: every row is missing.
    assert django_side.compare_rows(None, {1: b"a"})["new"] == {"count": 1, "keys": [1]}
    assert django_side.compare_rows({1: b"a"}, None) == {
        "sqlite_rows": 1, "target_rows": None, "missing": {"count": 1, "keys": [1]},
        "changed": {"count": 0, "keys": []}, "new": {"count": 0, "keys": []}}
    # A few keys are named; m2m pairs (natural keys inside) as lists.
    many = django_side.compare_rows({}, {key: b"" for key in range(20, 0, -1)})["new"]
    assert many == {"count": 20, "keys": [1, 2, 3, 4, 5]}
    pairs = django_side.compare_rows({(7, ("add_event", "events", "event")): ""}, {})["missing"]
    assert pairs == {"count": 1, "keys": [[7, ("add_event", "events", "event")]]}


def test_a_value_reads_the_same_from_either_database():
    paris = timezone(timedelta(hours=2))
    same = [(datetime(2020, 1, 1, 14, 0, 0, 5, tzinfo=paris), datetime(2020, 1, 1, 12, 0, 0, 5, tzinfo=UTC)),
            (Decimal("1.50"), Decimal("1.5")), (Decimal("100.00"), Decimal("1E+2")),
            (memoryview(b"\x00\xff"), b"\x00\xff"),
            ({"b": 1.0, "a": [2]}, {"a": [2], "b": 1.0})]       # jsonb orders keys its own way
    for left, right in same:
        assert django_side.canonical(left) == django_side.canonical(right), (left, right)
    assert django_side.canonical(date(2020, 1, 2)) == "2020-01-02"
    key = uuid.UUID(int=1)
    assert django_side.row_key(key) == '"00000000-0000-0000-0000-000000000001"'
    assert django_side.row_key((7, ("a", "b"))) == (7, ("a", "b"))
    assert django_side.canonical(1) != django_side.canonical("1")


def test_the_comparison_table_lines_up_and_says_which_differ():
    rows = sqlite_import.compare(verification(
        ("events.Event", "events_event", THREE, {1: b"a", 5: b"c", 6: b"d"}),
        ("auth.User", "auth_user", {1: b"x"}, {1: b"y"}),
        ("auth.Group", "auth_group", {}, {}),
        ("shop.Order", "shop_order", None, {3: b"n"}),
        ("shop.Item", "shop_item", {1: b"i"}, None)))
    assert sqlite_import.comparison_table(rows) == "\n".join([
        "table         SQLite rows  PostgreSQL rows  result     missing  changed  new",
        "auth_group              0                0  same             0        0    0",
        "auth_user               1                1  DIFFERENT        0        1    0",
        "events_event            3                3  DIFFERENT        1        0    1",
        "shop_item               1           absent  DIFFERENT        1        0    0",
        "shop_order         absent                1  grown            0        0    1"])
    assert [row.table for row in sqlite_import.differences(rows)] == ["auth_user", "events_event", "shop_item"]


def test_new_rows_are_information_not_a_difference():
    rows = sqlite_import.compare(GROWN)
    assert sqlite_import.differences(rows) == []
    assert [row.verdict for row in rows] == ["same", "grown"]
    assert sqlite_import.new_rows_note(rows) == (
        "new in PostgreSQL since the import (information, not a failure): events_event: 2 rows (6, 7)")
    assert sqlite_import.new_rows_note(sqlite_import.compare(EQUAL)) is None


def test_the_failure_names_each_table_both_counts_the_keys_and_the_dump():
    different = sqlite_import.differences(sqlite_import.compare(verification(
        ("events.Event", "events_event", THREE, {1: b"a", 5: b"C", 6: b"n"}),
        ("auth.User", "auth_user", {1: b"x"}, {1: b"y"}),
        ("shop.Item", "shop_item", {1: b"i"}, None))))
    message = sqlite_import.failure_message(different, DUMP, PLAN)
    assert message.startswith(
        "VERIFICATION FAILED: imported rows are missing or changed in 3 table(s): auth_user: 1 rows in "
        "SQLite, 1 in PostgreSQL, 1 changed (1); events_event: 3 rows in SQLite, 3 in PostgreSQL, 1 missing "
        "(2), 1 changed (5); shop_item: 1 rows in SQLite, absent in PostgreSQL (the table is missing: was "
        "the release's migrate run?). Rows the app itself changed or deleted since the import count here "
        f"too. To go back to the database as it was before the import, restore {DUMP}: sudo sh -c ")
    assert "Restoring it also removes" not in message
    assert sqlite_import.failure_message(different, DUMP, PLAN, added=1).endswith(
        ".dump' Restoring it also removes the 1 row added since the import (dump them first if they are "
        "to be kept).")
    assert sqlite_import.failure_message(different, None, PLAN, added=1).endswith(
        "No pre-import dump was found on the host.")


# --- the steps, against a fake host ----------------------------------------------------------

class FakeHost:
    """Answers each command by its kind and keeps the order they came in."""

    def __init__(self, inspection=INSPECTION, verified=EQUAL, lock_free=True, import_ok=True):
        self.inspection, self.verified = inspection, verified
        self.lock_free, self.import_ok = lock_free, import_ok
        self.import_report = {"imported": True}
        self.latest_dump = ""
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
            return (True, report(self.import_report)) if self.import_ok else (False, "IntegrityError: boom")
        if kind == "verify":
            return True, report(self.verified)
        if kind == "uid":
            return True, "10001 10001"
        if kind == "latest-dump":
            return True, self.latest_dump
        return True, ""

    @staticmethod
    def kind(command):
        if command[:2] == ["docker", "run"] and "-c" in command:
            return "uid"
        script = f"{sqlite_import.CONTAINER_DIR}/{sqlite_import.SCRIPT_NAME}"
        if "compose" in command and script in command:
            return command[command.index(script) + 1]
        if command[:2] == ["rm", "-rf"]:
            return "rm-staging"
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
    assert any(line.startswith("comparison, SQLite file against PostgreSQL, row by primary key:\ntable ")
               for line in lines)


def test_a_target_with_rows_is_refused_before_the_dump_and_the_lock_is_released():
    fake = FakeHost(inspection={**INSPECTION, "target_rows": {"events_event": 3}})
    run, lines = importer(fake)
    with pytest.raises(ImportRefused, match=r"already holds rows: events_event \(3 rows\)"):
        run.execute()
    assert fake.kinds == ["uid", "chown", "acquire-lock", "inspect", "rm-staging", "release-lock"]
    assert "refused: removed the uploaded copy /data/imports/db-0123456789ab" in lines


def test_a_file_of_newer_code_is_refused_and_its_copy_removed():
    newer = {**INSPECTION["sqlite"], "unknown": ["events.0009_future"]}
    fake = FakeHost(inspection={**INSPECTION, "sqlite": newer})
    with pytest.raises(ImportRefused, match="deploy the code that made the file first"):
        importer(fake)[0].execute()
    assert fake.kinds[-2:] == ["rm-staging", "release-lock"]


def test_what_the_import_left_out_is_a_warning_and_the_import_goes_on():
    fake = FakeHost()
    fake.import_report = {"imported": True, "left_out": DEVTOOLS_LEFT_OUT}
    run, lines = importer(fake)
    run.execute()
    assert "rm-staging" not in fake.kinds and fake.kinds[-2:] == ["verify", "release-lock"]
    assert sqlite_import.left_out_warning(DEVTOOLS_LEFT_OUT) in lines


def test_replace_existing_flushes_inside_the_import():
    fake = FakeHost(inspection={**INSPECTION, "target_rows": {"events_event": 3}})
    commands = []
    run, lines = importer(lambda command: (commands.append(command), fake(command))[1], replace_existing=True)
    run.execute()
    assert sqlite_import.in_container(run.plan, "import", "--flush") in commands
    assert "replace_existing: the rows of 1 table(s) will be replaced" in lines


def test_a_difference_fails_loudly_with_the_dump_of_this_run():
    fake = FakeHost(verified=MISSING)
    with pytest.raises(VerificationFailed,
                       match=f"events_event: 3 rows in SQLite, 2 in PostgreSQL, 1 missing \\(2\\).*restore {DUMP}"):
        importer(fake)[0].execute()
    assert fake.kinds[-1] == "release-lock"
    assert "rm-staging" not in fake.kinds           # the copy stays for a look at what differs


def test_a_failed_import_names_the_dump_to_go_back_to():
    with pytest.raises(ImportFailed, match=f"IntegrityError: boom.*dumped first to {DUMP}"):
        importer(FakeHost(import_ok=False))[0].execute()


def test_verify_only_takes_no_lock_and_no_dump_and_finds_the_last_dump_when_it_fails():
    fake = FakeHost()
    importer(fake, verify_only=True)[0].execute()
    assert fake.kinds == ["uid", "chown", "verify"]
    failing = FakeHost(verified=MISSING)
    with pytest.raises(VerificationFailed, match="No pre-import dump was found"):
        importer(failing, verify_only=True)[0].execute()
    assert failing.kinds == ["uid", "chown", "verify", "latest-dump"]


def test_verify_only_after_the_site_grew_reports_the_new_rows_and_passes():
    fake = FakeHost(verified={**GROWN, "left_out": DEVTOOLS_LEFT_OUT})
    run, lines = importer(fake, verify_only=True)
    rows = run.execute()
    assert [(row.table, row.new, row.intact) for row in rows] == [("auth_user", 0, True), ("events_event", 2, True)]
    assert "verified: 2 table(s), every row of the SQLite file is in PostgreSQL, equal" in lines
    assert sqlite_import.new_rows_note(rows) in lines
    assert sqlite_import.left_out_warning(DEVTOOLS_LEFT_OUT) in lines
    assert not any("restore" in line for line in lines)


def test_a_changed_row_fails_even_beside_new_rows_and_says_the_restore_drops_them():
    changed = verification(("events.Event", "events_event", THREE, {1: b"a", 2: b"B", 5: b"c", 6: b"d"}))
    fake = FakeHost(verified=changed)
    fake.latest_dump = DUMP
    with pytest.raises(VerificationFailed, match=r"1 changed \(2\).*restore .*removes the 1 row added since"):
        importer(fake, verify_only=True)[0].execute()


def test_a_held_lock_refuses_before_the_target_is_read():
    fake = FakeHost(lock_free=False)
    with pytest.raises(deploy_lock.LockHeld, match="alice from laptop"):
        importer(fake)[0].execute()
    assert "inspect" not in fake.kinds
    assert "rm-staging" not in fake.kinds           # it may be the held import's own directory


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
# A dev-only app the release does not install: its table (pointing at a user), its migrations, its
# content type and a permission the group above was given.
DEVTOOLS = '''
CREATE TABLE "devtools_note" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "text" text NOT NULL,
    "author_id" integer NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
INSERT INTO devtools_note (id, text, author_id) VALUES (1, 'only in development', 7);
INSERT INTO django_migrations (app, name, applied) VALUES
    ('devtools', '0001_initial', '2024-01-01 00:00:00'), ('devtools', '0002_note_author', '2024-01-02 00:00:00');
INSERT INTO django_content_type (app_label, model) VALUES ('devtools', 'note');
INSERT INTO auth_permission (name, content_type_id, codename)
    VALUES ('Can view note', last_insert_rowid(), 'view_note');
INSERT INTO auth_group_permissions (group_id, permission_id) VALUES (3, last_insert_rowid());
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


def test_the_script_moves_rows_keeps_ids_and_m2m_leaves_out_a_dev_app_and_compares_by_key(tmp_path):
    (tmp_path / "import_test_settings.py").write_text(SETTINGS)
    source, target = tmp_path / "source.sqlite3", tmp_path / "target.sqlite3"
    for database in (source, target):
        django(tmp_path, database, "manage.py", "migrate", "--noinput", "--verbosity", "0")
    # Permissions made in another order in the target: their ids differ from the source's.
    with sqlite3.connect(target) as connection:
        connection.execute("UPDATE auth_permission SET id = id + 100")
    django(tmp_path, source, "manage.py", "shell", "--command", ROWS)
    with sqlite3.connect(source) as connection:
        connection.executescript(DEVTOOLS)
    script = str(DJANGO_SIDE / sqlite_import.SCRIPT_NAME)

    inspection = sqlite_import.parse_report(django(tmp_path, target, script, "inspect", sqlite=source))
    assert sqlite_import.holding_rows(inspection) == []
    assert inspection["sqlite"]["uninstalled"] == ["devtools.0001_initial", "devtools.0002_note_author"]
    sqlite_import.check_inspection({**inspection, "vendor": "postgresql"})     # not refused: left out
    imported = sqlite_import.parse_report(django(tmp_path, target, script, "import", sqlite=source))
    assert imported["left_out"] == {
        "apps": {"devtools": ["0001_initial", "0002_note_author"]}, "tables": ["devtools_note"],
        "removed": {"auth.Group_permissions": 1, "auth.Permission": 1, "contenttypes.ContentType": 1}}
    with sqlite3.connect(target) as connection:
        assert connection.execute("SELECT name FROM sqlite_master WHERE name LIKE 'devtools%'").fetchall() == []
        assert connection.execute("SELECT count(*) FROM django_migrations WHERE app = 'devtools'").fetchone() == (0,)
    rows = compared(tmp_path, target, script, source)
    assert {row.table: (row.sqlite_rows, row.target_rows, row.intact) for row in rows} == {
        "auth_group": (1, 1, True), "auth_group_permissions": (1, 1, True), "auth_user": (1, 1, True),
        "auth_user_groups": (1, 1, True), "auth_user_user_permissions": (1, 1, True),
        "events_event": (3, 3, True)}
    with sqlite3.connect(target) as connection:
        # Every value as it was, microseconds too (Django's own JSON would keep milliseconds only).
        query = "SELECT id, title, happened_at, created_at, updated_at FROM events_event ORDER BY id"
        assert connection.execute(query).fetchall() == sqlite3.connect(source).execute(query).fetchall()
        assert connection.execute("SELECT happened_at FROM events_event WHERE id = 5").fetchone() == (
            "2000-01-01 00:00:00.123455",)
    # The site's use since: a new row is information; a changed or a deleted one is a difference.
    with sqlite3.connect(target) as connection:
        connection.execute("INSERT INTO events_event (id, title, description, happened_at, created_at, "
                           "updated_at) VALUES (9, 'new', '', '2001-01-01', '2001-01-01', '2001-01-01')")
    rows = compared(tmp_path, target, script, source)
    assert sqlite_import.differences(rows) == []
    assert [(row.table, row.new, row.new_keys) for row in rows if row.new] == [("events_event", 1, (9,))]
    with sqlite3.connect(target) as connection:
        connection.execute("DELETE FROM events_event WHERE id = 2")
        connection.execute("UPDATE events_event SET title = 'A' WHERE id = 1")
    rows = compared(tmp_path, target, script, source)
    assert [(row.table, row.sqlite_rows, row.target_rows, row.missing_keys, row.changed_keys, row.new)
            for row in sqlite_import.differences(rows)] == [("events_event", 3, 3, (2,), (1,), 1)]
    assert not (tmp_path / django_side.FIXTURE_NAME).exists()     # the plain-text copy of the data is gone


def test_every_uploaded_file_is_in_the_package():
    for name in sqlite_import.CONTAINER_FILES:
        assert (DJANGO_SIDE / name).is_file()
