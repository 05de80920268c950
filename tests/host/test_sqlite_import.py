"""Moving a project's SQLite database into the instance's PostgreSQL: deploy/import_sqlite.py by behaviour.

The SQLite file is made here the way a project has one: the example's own `manage.py migrate`
into a file, then rows through its models (ids with a gap, a non-ASCII title). The tests run
in file order on the shared instance: the module empties the events table first, and leaves
the imported rows behind (the release, and the events API, as they were).
"""

import os
import re
import subprocess
import sys

import pytest

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
def importing(test_instance, deployed):
    """A known start: no events (other modules may have made some); the release is left alone."""
    test_instance.psql("DELETE FROM events_event")
    current = test_instance.readlink("/data/releases/current")
    yield
    assert test_instance.readlink("/data/releases/current") == current
    assert test_instance.get("/api/events/")[0] == 200


def run_import(deployer, sqlite, **data):
    result = deployer.run({"sqlite": str(sqlite), **data}, deploy_file="import_sqlite.py", check=False)
    return result.returncode, result.stdout + result.stderr


def comparison_row(output: str, table: str) -> list[str]:
    """`table  sqlite-rows  postgres-rows  same|DIFFERENT` from the printed comparison."""
    for line in output.splitlines():
        cells = line.split()
        if table in cells:
            return cells[cells.index(table):]
    raise AssertionError(f"no row for {table} in:\n{output[-3000:]}")


def test_import_moves_every_row_with_its_id_and_resets_sequences(deployer, test_instance, importing,
                                                                 sqlite_file):
    code, output = run_import(deployer, sqlite_file)
    assert code == 0, output[-4000:]
    assert comparison_row(output, "events_event") == ["events_event", "3", "3", "same"]
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


def test_a_second_import_is_refused_and_changes_nothing(deployer, test_instance, importing, sqlite_file):
    rows = test_instance.psql(EVENT_ROWS)
    state = test_instance.inner("sh", "-c", IMPORT_STATE).stdout
    code, output = run_import(deployer, sqlite_file)
    assert code != 0
    assert "the target database already holds rows: events_event (3 rows)" in output
    assert "--data replace_existing=true" in output
    assert test_instance.psql(EVENT_ROWS) == rows
    assert test_instance.inner("sh", "-c", IMPORT_STATE).stdout == state   # no dump taken either
    assert test_instance.inner("ls", "/data/deploy.lock", check=False).returncode != 0


def test_verification_fails_loudly_when_a_row_is_missing(deployer, test_instance, importing, sqlite_file):
    code, output = run_import(deployer, sqlite_file, verify_only="true")
    assert code == 0, output[-4000:]
    assert comparison_row(output, "events_event") == ["events_event", "3", "3", "same"]
    test_instance.psql("DELETE FROM events_event WHERE id = 2")
    rows = test_instance.psql(EVENT_ROWS)
    code, output = run_import(deployer, sqlite_file, verify_only="true")
    assert code != 0
    assert comparison_row(output, "events_event") == ["events_event", "3", "2", "DIFFERENT"]
    assert "VERIFICATION FAILED" in output
    assert "events_event: 3 rows in SQLite, 2 in PostgreSQL" in output
    assert re.search(r"restore /data/backups/pre-import-\d{8}T\d{6}Z\.dump", output)
    assert test_instance.psql(EVENT_ROWS) == rows          # verify_only changed nothing


def test_replace_existing_puts_the_sqlite_rows_back(deployer, test_instance, importing, sqlite_file):
    dumps_before = test_instance.inner("sh", "-c", "ls /data/backups/pre-import-*.dump | wc -l").stdout
    code, output = run_import(deployer, sqlite_file, replace_existing="true")
    assert code == 0, output[-4000:]
    assert "replace_existing: the rows of 1 table(s) will be replaced" in output
    assert comparison_row(output, "events_event") == ["events_event", "3", "3", "same"]
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
