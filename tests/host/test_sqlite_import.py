"""Moving a project's SQLite database into the instance's PostgreSQL: deploy/import_sqlite.py by behaviour.

The SQLite file is made here the way a project has one: the example's own `manage.py migrate`
into a file, then rows through its models (ids with a gap, a non-ASCII title). Each test makes
the target it needs (empty, or holding exactly the file's rows) and passes alone and in any
order; the module leaves the release, and the events API, as they were.
"""

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

from onehost.commands import sqlite_import
from onehost.paths import REPO_ROOT

EVENTS = [  # (id, title, happened_at): ids 1, 2, 5 — the gap must survive the move
    (1, "First light", "1969-07-20T20:17:40Z"),
    (2, "Zürich — Großmünster ☃", "1990-02-03T04:05:06.123456Z"),
    (5, "Last of the batch", "2001-09-09T01:46:40Z"),
]
SOURCE_SETTINGS = '''
import os
from timewarp.settings.test import *  # noqa: F403
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["SQLITE_FILE"]}}
'''
INSERT_EVENTS = '''
from events.models import Event
for event_id, title, happened_at in {events!r}:
    Event.objects.create(id=event_id, title=title, description=f"event {{event_id}}", happened_at=happened_at)
'''
EVENT_ROWS = "SELECT id || '|' || title FROM events_event ORDER BY id"
IMPORT_STATE = "ls -1 /data/imports /data/backups | sort; readlink /data/releases/current"
# The tables an import fills: emptied for a test that needs an empty target.
DATA_TABLES = ("events_event", "auth_group", "auth_group_permissions", "auth_user", "auth_user_groups",
               "auth_user_user_permissions")
# What a test may change in the target after an import: every event as stored, and the auth rows.
TARGET_STATE = ("SELECT coalesce((SELECT string_agg(e::text, ';' ORDER BY id) FROM events_event e), '') "
                "|| ' groups ' || (SELECT count(*) FROM auth_group) || ' users ' || (SELECT count(*) FROM auth_user)")
# A dev-only app the release does not install (a debug-toolbar-like app with a model): its table
# (pointing at a user), its migrations, its content type, and a permission a group was given.
DEVTOOLS = '''
CREATE TABLE "devtools_note" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "text" text NOT NULL,
    "author_id" integer NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
INSERT INTO devtools_note (id, text, author_id) VALUES (1, 'only in development', NULL);
INSERT INTO django_migrations (app, name, applied) VALUES
    ('devtools', '0001_initial', '2024-01-01 00:00:00'), ('devtools', '0002_note_author', '2024-01-02 00:00:00');
INSERT INTO auth_group (id, name) VALUES (3, 'editors');
INSERT INTO django_content_type (app_label, model) VALUES ('devtools', 'note');
INSERT INTO auth_permission (name, content_type_id, codename)
    VALUES ('Can view note', last_insert_rowid(), 'view_note');
INSERT INTO auth_group_permissions (group_id, permission_id) VALUES (3, last_insert_rowid());
'''


def manage(tmp_path, sqlite_file, *arguments: str) -> None:
    (tmp_path / "sqlite_source_settings.py").write_text(SOURCE_SETTINGS)
    environ = {**os.environ, "PYTHONPATH": str(tmp_path), "SQLITE_FILE": str(sqlite_file),
               "DJANGO_SETTINGS_MODULE": "sqlite_source_settings"}
    result = subprocess.run([sys.executable, "manage.py", *arguments], cwd=REPO_ROOT / "example",
                            env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sqlite")
    path = directory / "db.sqlite3"
    manage(directory, path, "migrate", "--noinput", "--verbosity", "0")
    manage(directory, path, "shell", "--command", INSERT_EVENTS.format(events=EVENTS))
    return path


@pytest.fixture(scope="module")
def devtools_file(sqlite_file, tmp_path_factory):
    """The same project's file from a development machine with a dev-only app installed."""
    path = tmp_path_factory.mktemp("devtools") / "db.sqlite3"
    shutil.copyfile(sqlite_file, path)
    with sqlite3.connect(path) as connection:
        connection.executescript(DEVTOOLS)
    return path


def staging_dir(sqlite) -> str:
    """Where the import uploads this file (deploy/plans/sqlite_import_plan.py names it)."""
    digest = hashlib.sha256(sqlite.read_bytes()).hexdigest()
    return f"/data/imports/{sqlite_import.staging_name(sqlite, digest)}"


def imports_listing(test_instance) -> list[str]:
    return test_instance.inner("sh", "-c", "ls -1 /data/imports 2>/dev/null || true").stdout.split()


@pytest.fixture(scope="module")
def importing(test_instance, deployed):
    """The release is left alone by every test of the module."""
    current = test_instance.readlink("/data/releases/current")
    yield
    assert test_instance.readlink("/data/releases/current") == current
    assert test_instance.get("/api/events/")[0] == 200


@pytest.fixture
def empty_target(test_instance, importing):
    """No rows in the tables an import fills (other tests and modules may have made some)."""
    test_instance.psql(f"TRUNCATE {', '.join(DATA_TABLES)} CASCADE")


@pytest.fixture(scope="module")
def import_record():
    return {}


@pytest.fixture
def imported(deployer, test_instance, importing, sqlite_file, import_record):
    """The target holds exactly the SQLite file's rows, as an import left them: imported again
    unless it still is as the last import of this module left it."""
    if import_record.get("state") != test_instance.psql(TARGET_STATE):
        test_instance.psql(f"TRUNCATE {', '.join(DATA_TABLES)} CASCADE")
        code, output = run_import(deployer, sqlite_file)
        assert code == 0, output[-4000:]
        import_record["state"] = test_instance.psql(TARGET_STATE)
    assert test_instance.psql(EVENT_ROWS).splitlines() == [f"{i}|{title}" for i, title, _ in EVENTS]


def run_import(deployer, sqlite, **data):
    result = deployer.run({"sqlite": str(sqlite), **data}, deploy_file="import_sqlite.py", check=False)
    return result.returncode, result.stdout + result.stderr


def new_event(test_instance, title: str) -> int:
    status, created = test_instance.request("POST", "/api/events/", {
        "title": title, "happened_at": "2020-01-01T00:00:00Z"})
    assert status == 201, created
    return created["id"]


def comparison_row(output: str, table: str) -> list[str]:
    """`table  sqlite-rows  postgres-rows  same|grown|DIFFERENT  missing  changed  new` from the
    printed comparison."""
    for line in output.splitlines():
        cells = line.split()
        if table in cells:
            return cells[cells.index(table):]
    raise AssertionError(f"no row for {table} in:\n{output[-3000:]}")


def test_import_moves_every_row_with_its_id_and_resets_sequences(deployer, test_instance, empty_target,
                                                                 sqlite_file):
    code, output = run_import(deployer, sqlite_file)
    assert code == 0, output[-4000:]
    assert comparison_row(output, "events_event") == ["events_event", "3", "3", "same", "0", "0", "0"]
    assert "WARNING: left out" not in output
    for step in ("pre-import dump:", "migrate the target", "dumpdata from SQLite", "Installed 3 object(s)",
                 "sequences reset", "verified:"):
        assert step in output
    status, page = test_instance.get("/api/events/")
    assert status == 200
    assert sorted((event["id"], event["title"], event["happened_at"]) for event in page["results"]) == EVENTS
    # The dump taken before the import is complete enough for pg_restore to read.
    dump = re.search(r"pre-import dump: (\S+\.dump)", output).group(1)
    assert "TABLE DATA public events_event" in test_instance.inner("pg_restore", "--list", dump).stdout
    assert test_instance.inner("stat", "-c", "%a", dump).stdout.strip() == "600"
    # The lock is released, and a new row gets an id past the imported ones.
    assert test_instance.inner("ls", "/data/deploy.lock", check=False).returncode != 0
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "After the move", "happened_at": "2020-01-01T00:00:00Z"})
    assert status == 201 and created["id"] > 5
    assert test_instance.request("DELETE", f"/api/events/{created['id']}/")[0] == 204


def test_a_second_import_is_refused_changes_nothing_and_removes_its_copy(deployer, test_instance, imported,
                                                                         sqlite_file):
    rows = test_instance.psql(EVENT_ROWS)
    backups = test_instance.inner("ls", "-1", "/data/backups").stdout
    code, output = run_import(deployer, sqlite_file)
    assert code != 0
    assert "the target database already holds rows: events_event (3 rows)" in output
    assert "--data replace_existing=true" in output
    assert test_instance.psql(EVENT_ROWS) == rows
    assert test_instance.inner("ls", "-1", "/data/backups").stdout == backups      # no dump taken either
    # The upload of the user's data went, with the scripts beside it.
    assert f"refused: removed the uploaded copy {staging_dir(sqlite_file)}" in output
    assert staging_dir(sqlite_file).rsplit("/", 1)[1] not in imports_listing(test_instance)
    assert test_instance.inner("ls", "/data/deploy.lock", check=False).returncode != 0


def test_an_app_the_release_does_not_install_is_left_out_with_a_warning(deployer, test_instance, empty_target,
                                                                        devtools_file):
    code, output = run_import(deployer, devtools_file)
    assert code == 0, output[-4000:]
    assert ("WARNING: left out of the import (from the uploaded copy, not your file): migrations of apps "
            "this release does not install: devtools (2 migrations); tables no installed model uses: "
            "devtools_note; rows pointing at content types the release does not have: "
            "auth.Group_permissions 1, auth.Permission 1, contenttypes.ContentType 1.") in output, output[-6000:]
    assert comparison_row(output, "events_event") == ["events_event", "3", "3", "same", "0", "0", "0"]
    assert comparison_row(output, "auth_group") == ["auth_group", "1", "1", "same", "0", "0", "0"]
    assert test_instance.psql(EVENT_ROWS).splitlines() == [f"{i}|{title}" for i, title, _ in EVENTS]
    # Neither the dev-only app's table nor its migrations reached PostgreSQL; the group did,
    # without the permission of a model the release does not have.
    assert test_instance.psql("SELECT to_regclass('devtools_note') IS NULL") == "t"
    assert test_instance.psql("SELECT count(*) FROM django_migrations WHERE app = 'devtools'") == "0"
    assert test_instance.psql("SELECT count(*) FROM django_content_type WHERE app_label = 'devtools'") == "0"
    assert test_instance.psql("SELECT g.name || ' ' || count(p.id) FROM auth_group g LEFT JOIN "
                              "auth_group_permissions p ON p.group_id = g.id GROUP BY g.name") == "editors 0"


def test_verify_only_after_the_site_grew_reports_the_new_rows_and_passes(deployer, test_instance, imported,
                                                                         sqlite_file):
    added = sorted(new_event(test_instance, title) for title in ("Used since", "And again"))
    rows = test_instance.psql(EVENT_ROWS)
    code, output = run_import(deployer, sqlite_file, verify_only="true")
    assert code == 0, output[-4000:]
    assert comparison_row(output, "events_event") == ["events_event", "3", "5", "grown", "0", "0", "2"]
    assert "verified: " in output and "every row of the SQLite file is in PostgreSQL, equal" in output
    assert (f"new in PostgreSQL since the import (information, not a failure): events_event: 2 rows "
            f"({added[0]}, {added[1]})") in output
    assert "VERIFICATION FAILED" not in output and "pg_restore" not in output
    assert test_instance.psql(EVENT_ROWS) == rows          # verify_only changed nothing


@pytest.mark.parametrize("use, cells, difference", [
    (lambda instance: instance.request("PATCH", "/api/events/2/", {"title": "Edited"}),
     ["3", "4", "DIFFERENT", "0", "1", "1"], "3 rows in SQLite, 4 in PostgreSQL, 1 changed (2)"),
    (lambda instance: instance.request("DELETE", "/api/events/2/"),
     ["3", "3", "DIFFERENT", "1", "0", "1"], "3 rows in SQLite, 3 in PostgreSQL, 1 missing (2)"),
], ids=["changed", "deleted"])
def test_verification_fails_loudly_when_an_imported_row_changed_or_is_gone(deployer, test_instance, imported,
                                                                           sqlite_file, use, cells, difference):
    new_event(test_instance, "Used since")
    assert use(test_instance)[0] in (200, 204)
    rows = test_instance.psql(EVENT_ROWS)
    code, output = run_import(deployer, sqlite_file, verify_only="true")
    assert code != 0
    assert comparison_row(output, "events_event") == ["events_event", *cells]
    assert f"VERIFICATION FAILED: imported rows are missing or changed in 1 table(s): events_event: {difference}" \
        in output
    assert re.search(r"restore /data/backups/pre-import-\d{8}T\d{6}Z\.dump", output)
    assert "Restoring it also removes the 1 row added since the import" in output
    assert test_instance.psql(EVENT_ROWS) == rows          # verify_only changed nothing


def test_replace_existing_puts_the_sqlite_rows_back(deployer, test_instance, empty_target, sqlite_file):
    new_event(test_instance, "Made on the host")
    dumps_before = test_instance.inner("sh", "-c", "ls /data/backups/pre-import-*.dump | wc -l").stdout
    code, output = run_import(deployer, sqlite_file, replace_existing="true")
    assert code == 0, output[-4000:]
    assert "replace_existing: the rows of 1 table(s) will be replaced" in output
    assert comparison_row(output, "events_event") == ["events_event", "3", "3", "same", "0", "0", "0"]
    assert test_instance.psql(EVENT_ROWS).splitlines() == [f"{i}|{title}" for i, title, _ in EVENTS]
    dumps_after = test_instance.inner("sh", "-c", "ls /data/backups/pre-import-*.dump | wc -l").stdout
    assert int(dumps_after) == int(dumps_before) + 1


@pytest.mark.parametrize("make_file, message", [
    (lambda path: path.write_bytes(b"-- PostgreSQL database dump\nCREATE TABLE x ();\n"),
     "is not an SQLite database"),
    (lambda path: None, "does not exist"),
], ids=["not-sqlite", "missing"])
def test_a_bad_file_is_refused_before_anything_changes(deployer, test_instance, importing, tmp_path,
                                                       make_file, message):
    bad = tmp_path / "db.sqlite3"
    make_file(bad)
    rows = test_instance.psql(EVENT_ROWS)
    state = test_instance.inner("sh", "-c", IMPORT_STATE).stdout
    code, output = run_import(deployer, bad)
    assert code != 0
    assert f"{bad} {message}" in output
    assert test_instance.psql(EVENT_ROWS) == rows
    assert test_instance.inner("sh", "-c", IMPORT_STATE).stdout == state


def test_a_held_deploy_lock_refuses_the_import(deployer, test_instance, importing, sqlite_file):
    owner = '{"who": "alice", "from": "laptop", "pid": 7, "started_at": "now", "token": "x"}'
    test_instance.inner("sh", "-c", f"mkdir /data/deploy.lock && "
                                    f"echo '{owner}' > /data/deploy.lock/owner.json")
    try:
        rows = test_instance.psql(EVENT_ROWS)
        code, output = run_import(deployer, sqlite_file, replace_existing="true")
        assert code != 0
        assert "another deploy holds /data/deploy.lock: alice from laptop" in output
        assert test_instance.psql(EVENT_ROWS) == rows
    finally:
        test_instance.inner("rm", "-rf", "/data/deploy.lock")


def test_a_host_with_no_release_is_told_to_deploy_first(deployer, test_instance, importing, sqlite_file):
    """A data directory with no releases/current stands in for a host never deployed to."""
    rows = test_instance.psql(EVENT_ROWS)
    code, output = run_import(deployer, sqlite_file, data_dir="/srv/never-deployed")
    assert code != 0
    assert ("has no release yet (/srv/never-deployed/releases/current does not exist): "
            "deploy the app first") in output
    assert test_instance.inner("test", "-e", "/srv/never-deployed", check=False).returncode != 0
    assert test_instance.psql(EVENT_ROWS) == rows
