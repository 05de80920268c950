"""Moving a project's SQLite data into the host's PostgreSQL, once, and proving nothing was lost.

On the host, with the deploy lock held (a deploy cannot switch the app mid-import):

 1. the SQLite file is uploaded to /data/imports/<name>/ (mode 0600), beside the in-container
    script (onehost/django_side), the directory owned by the app image's user;
 2. the target is inspected: any table holding rows (but django_migrations, django_content_type
    and auth_permission, which `migrate` fills) refuses the import unless replace_existing;
    a refused import removes the directory it uploaded;
 3. `pg_dump -Fc` of the live database into /data/backups/pre-import-<time>.dump;
 4. in a one-off container of the current release's image, on the shared network with the
    release's app.env: migrate, the uploaded copy brought to the release (migrated forward;
    tables, migrations and content types of apps the release does not install left out, with
    a warning naming them), dumpdata from it (natural foreign keys), loaddata into PostgreSQL,
    every sequence reset (one transaction, flushed first with replace_existing);
 5. verified by primary key: every row of the SQLite file is in PostgreSQL with the same values.
    A missing or changed row fails loudly, naming the tables, the keys and the dump to go back
    to; rows only in PostgreSQL (the site's use since the import) are reported as new, apart.
 6. with --data media=DIR, the project's media files (uploaded as a tar beside the SQLite file)
    go into <data_dir>/media, given to the image's user, and are verified by count and SHA-256
    (onehost/commands/media.py). A file already there under the same name with other content
    refuses the whole import at step 2, naming it: nothing is overwritten.

verify_only runs step 5 alone (the database does not change; the uploaded copy is brought to
the release as in step 4). Pure builders and parsing here; the deploy
(deploy/tasks/sqlite_import.py) binds `SqliteImport` (onehost/remote/sqlite_import.py) to the
pyinfra connection.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from onehost.commands import compose_commands as commands
from onehost.commands import switch
from onehost.commands.host_defaults import LOCK_TTL_SECONDS
from onehost.commands.media import MediaUpload
from onehost.commands.switch import CommandError

SQLITE_HEADER = b"SQLite format 3\x00"
SCRIPT_NAME = "sqlite_import.py"
SETTINGS_NAME = "onehost_import_settings.py"
JSON_FORMAT_NAME = "onehost_import_jsonl.py"
# What each run uploads beside the SQLite file (the in-container side, onehost/django_side).
CONTAINER_FILES = (SCRIPT_NAME, SETTINGS_NAME, JSON_FORMAT_NAME)
SQLITE_NAME = "data.sqlite3"
CONTAINER_DIR = "/onehost-import"
MARKER = "ONEHOST_SQLITE_IMPORT "


class ImportRefused(Exception):
    """The import cannot run as asked; the message says why and what to do."""


class VerificationFailed(Exception):
    """The two databases differ; the message names the tables and the way back."""


class ImportFailed(Exception):
    """A step after the dump failed; the message names it and the way back."""


# --- inputs, checked before anything changes ----------------------------------------------

def check_sqlite_file(path: str | None) -> Path:
    if not path:
        raise ImportRefused("no SQLite file given: pass it with --data sqlite=PATH (e.g. db.sqlite3)")
    file = Path(path).expanduser()
    if not file.is_file():
        raise ImportRefused(f"the SQLite file {file} does not exist: give the path of the project's "
                            "database file (the NAME of its sqlite3 DATABASES entry)")
    with file.open("rb") as opened:
        header = opened.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise ImportRefused(f"{file} is not an SQLite database (its first bytes are not "
                            "'SQLite format 3'): give the project's db.sqlite3 itself, "
                            "not a dump or an archive")
    return file


def staging_name(file: Path, digest: str) -> str:
    """<stem>-<first 12 of its sha256>: one directory per file's content, safe as a path part."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", file.stem).strip("-.") or "sqlite"
    return f"{stem[:40]}-{digest[:12]}"


@dataclass(frozen=True)
class ImportPlan:
    staging_dir: str            # /data/imports/<name>
    image: str                  # the current release's app image (as compose runs it)
    release_dir: str            # what `current` pointed at when the plan was made
    layout: switch.HostLayout   # the network, stacks, backups and lock the deploy uses
    db_user: str
    db_name: str
    replace_existing: bool = False
    verify_only: bool = False
    lock_ttl_seconds: int = LOCK_TTL_SECONDS
    break_lock: bool = False
    media: MediaUpload | None = None   # the project's media files, moved with the data


# --- command builders -----------------------------------------------------------------------

def container_user(image: str) -> list[str]:
    """`<uid> <gid>` the image runs as (its USER may be a name the host does not know)."""
    return ["docker", "run", "--rm", "--network", "none", image,
            "python", "-c", "import os; print(os.getuid(), os.getgid())"]


def parse_container_user(output: str) -> tuple[int, int]:
    for line in reversed(output.strip().splitlines()):
        parts = line.split()
        if len(parts) == 2 and all(part.isdigit() for part in parts):
            return int(parts[0]), int(parts[1])
    raise CommandError(["python", "-c", "os.getuid()"], f"no uid and gid in: {output.strip()[-200:]}")


def hand_over(staging_dir: str, uid: int, gid: int) -> list[str]:
    """The container's user reads the file and writes beside it (SQLite journals, the fixture)."""
    return ["chown", "-R", f"{uid}:{gid}", staging_dir]


def in_container(plan: ImportPlan, *arguments: str) -> list[str]:
    """The in-container script in a one-off container of the release's app service: its image
    (as the image's user), the shared network (PostgreSQL publishes no port), its app.env."""
    return commands.app_one_off(plan.release_dir, plan.image, "python", f"{CONTAINER_DIR}/{SCRIPT_NAME}",
                                *arguments, environment={"ONEHOST_SQLITE_FILE": f"{CONTAINER_DIR}/{SQLITE_NAME}"},
                                volumes=(f"{plan.staging_dir}:{CONTAINER_DIR}",))


def pre_import_dump_path(backups_dir: str, when: datetime) -> str:
    return f"{backups_dir}/pre-import-{when.strftime('%Y%m%dT%H%M%SZ')}.dump"


def pg_dump(plan: ImportPlan, dump_path: str) -> list[str]:
    """The switch's pre-migration dump: `pg_dump -Fc` into a 0600 file, complete or absent."""
    return switch.pg_dump(plan.layout.data_stack_dir, plan.db_user, plan.db_name, dump_path)


def remove_staging(plan: ImportPlan) -> list[str]:
    """The uploaded copy of the user's data, and the scripts beside it, off the host. Only ever a
    directory directly under the imports directory."""
    parent, _, name = plan.staging_dir.rpartition("/")
    if parent != plan.layout.imports or name in ("", ".", ".."):
        raise ValueError(f"{plan.staging_dir} is not a staging directory under {plan.layout.imports}")
    return ["rm", "-rf", "--", plan.staging_dir]


def latest_pre_import_dump(backups_dir: str) -> list[str]:
    return ["sh", "-c", 'ls -1t "$1"/pre-import-*.dump 2>/dev/null | head -n 1 || true',
            "latest-dump", backups_dir]


def restore_hint(plan: ImportPlan, dump_path: str) -> str:
    """The command, on the host, that puts the database back as the dump has it."""
    stack = plan.layout.data_stack_dir
    compose = commands.compose(switch.DATA_PROJECT, f"{stack}/compose.yaml", f"{stack}/stack.env") + [
        "exec", "-T", "postgres", "pg_restore", "--clean", "--if-exists", "--single-transaction",
        "--no-owner", "--username", plan.db_user, "--dbname", plan.db_name]
    return f"sudo sh -c {shlex.quote(shlex.join(compose) + ' < ' + shlex.quote(dump_path))}"


# --- what the in-container script says ----------------------------------------------------

def parse_report(output: str) -> dict | None:
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    return None


def progress_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip() and not line.startswith(MARKER)]


def _rows_in_target(inspection: dict) -> list[tuple[str, int]]:
    recreated = set(inspection.get("recreated_tables", []))
    return sorted((table, rows) for table, rows in inspection["target_rows"].items()
                  if rows and table not in recreated)


def _file_fills(inspection: dict, table: str) -> bool:
    incoming = inspection.get("sqlite_rows")
    return incoming is None or bool(incoming.get(table))   # None: an inspection that did not count


def holding_rows(inspection: dict) -> list[tuple[str, int]]:
    """Tables the import would fill that hold rows already: those refuse the import."""
    return [(table, rows) for table, rows in _rows_in_target(inspection) if _file_fills(inspection, table)]


def kept_rows(inspection: dict) -> list[tuple[str, int]]:
    """Tables holding rows the SQLite file has none for (a beat schedule's since the first
    deploy): the import leaves them as they are."""
    return [(table, rows) for table, rows in _rows_in_target(inspection) if not _file_fills(inspection, table)]


def _listed(tables: list[tuple[str, int]]) -> str:
    return ", ".join(f"{table} ({rows} row{'s' if rows != 1 else ''})" for table, rows in tables)


def refusal(tables: list[tuple[str, int]]) -> str:
    return (f"the target database already holds rows: {_listed(tables)}. The import only fills empty "
            "tables; to replace those rows (after a dump of them), run again with "
            "--data replace_existing=true")


def kept_note(tables: list[tuple[str, int]]) -> str:
    return f"kept as they are (the SQLite file has no rows there): {_listed(tables)}"


def check_inspection(inspection: dict) -> None:
    """Refusals that do not depend on the target's rows: the engine and the SQLite file's history."""
    if inspection.get("vendor") != "postgresql":
        raise ImportRefused(f"the release's default database is {inspection.get('vendor')}, not "
                            "PostgreSQL: the release's app.env must point the app at the host's database")
    sqlite = inspection["sqlite"]
    if not sqlite["migrated"]:
        raise ImportRefused("the SQLite file has no django_migrations table: it was not made by this "
                            "project's `manage.py migrate`, so its tables cannot be matched to the models")
    if sqlite["unknown"]:
        raise ImportRefused(f"the SQLite file has migrations the deployed release does not know "
                            f"({switch.summarize(sqlite['unknown'])}): deploy the code that made the "
                            "file first, then import")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def left_out_warning(left_out: dict | None) -> str | None:
    """What the import left out of the SQLite file (the in-container side's `left_out`), naming
    the apps the release does not install; None when nothing was."""
    if not left_out or not (left_out.get("apps") or left_out.get("tables") or left_out.get("removed")):
        return None
    parts = []
    if left_out.get("apps"):
        parts.append("migrations of apps this release does not install: " + ", ".join(
            f"{app} ({_plural(len(names), 'migration')})" for app, names in sorted(left_out["apps"].items())))
    if left_out.get("tables"):
        parts.append("tables no installed model uses: " + switch.summarize(left_out["tables"], shown=10))
    if left_out.get("removed"):
        parts.append("rows pointing at content types the release does not have: " + ", ".join(
            f"{label} {count}" for label, count in sorted(left_out["removed"].items())))
    return ("WARNING: left out of the import (from the uploaded copy, not your file): " + "; ".join(parts)
            + ". If the release should have that data, install the app, deploy, and import again "
            "with --data replace_existing=true")


def _keys(keys: tuple, count: int) -> str:
    shown = ", ".join(str(key) if isinstance(key, int | str) else json.dumps(key, ensure_ascii=False)
                      for key in keys)
    return shown + (", ..." if count > len(keys) else "")


@dataclass(frozen=True)
class TableComparison:
    """One table, every SQLite row looked up by primary key (an m2m table's by its pair)."""
    model: str
    table: str
    sqlite_rows: int | None      # None: the table is not in that database
    target_rows: int | None
    missing: int = 0             # SQLite rows not in PostgreSQL
    changed: int = 0             # SQLite rows in PostgreSQL with other values
    new: int = 0                 # PostgreSQL rows not in the SQLite file: the site's use since
    missing_keys: tuple = ()
    changed_keys: tuple = ()
    new_keys: tuple = ()

    @property
    def intact(self) -> bool:
        """Every row of the SQLite file is in PostgreSQL, equal (new rows beside them are fine)."""
        return self.target_rows is not None and not self.missing and not self.changed

    @property
    def verdict(self) -> str:
        return "DIFFERENT" if not self.intact else "grown" if self.new else "same"

    @classmethod
    def from_report(cls, entry: dict) -> TableComparison:
        return cls(model=entry["model"], table=entry["table"], sqlite_rows=entry["sqlite_rows"],
                   target_rows=entry["target_rows"],
                   missing=entry["missing"]["count"], changed=entry["changed"]["count"],
                   new=entry["new"]["count"], missing_keys=tuple(entry["missing"]["keys"]),
                   changed_keys=tuple(entry["changed"]["keys"]), new_keys=tuple(entry["new"]["keys"]))


def compare(verification: dict) -> list[TableComparison]:
    return sorted((TableComparison.from_report(entry) for entry in verification["tables"]),
                  key=lambda row: row.table)


def _rows(count: int | None) -> str:
    return "absent" if count is None else str(count)


def comparison_table(rows: list[TableComparison]) -> str:
    """The verdict right after the two counts (`events_event  3  3  same`), then how many SQLite
    rows are missing or changed in PostgreSQL, and how many of its rows are new."""
    header = ("table", "SQLite rows", "PostgreSQL rows", "result", "missing", "changed", "new")
    lines = [(row.table, _rows(row.sqlite_rows), _rows(row.target_rows), row.verdict, str(row.missing),
              str(row.changed), str(row.new)) for row in rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def render(cells) -> str:
        return "  ".join([cell.rjust(width) if index in (1, 2, 4, 5, 6) else cell.ljust(width)
                          for index, (cell, width) in enumerate(zip(cells, widths, strict=True))]).rstrip()
    return "\n".join([render(header), *(render(line) for line in lines)])


def differences(rows: list[TableComparison]) -> list[TableComparison]:
    return [row for row in rows if not row.intact]


def new_rows_note(rows: list[TableComparison]) -> str | None:
    """Rows only PostgreSQL has: the site's use since the import, information, not a failure."""
    grown = [row for row in rows if row.new]
    if not grown:
        return None
    return ("new in PostgreSQL since the import (information, not a failure): " + "; ".join(
        f"{row.table}: {_plural(row.new, 'row')} ({_keys(row.new_keys, row.new)})" for row in grown))


def _difference(row: TableComparison) -> str:
    counts = f"{row.table}: {_rows(row.sqlite_rows)} rows in SQLite, {_rows(row.target_rows)} in PostgreSQL"
    if row.target_rows is None:
        return counts + " (the table is missing: was the release's migrate run?)"
    details = [f"{number} {what} ({_keys(keys, number)})" for number, what, keys in
               ((row.missing, "missing", row.missing_keys), (row.changed, "changed", row.changed_keys)) if number]
    return counts + (", " + ", ".join(details) if details else "")


def failure_message(different: list[TableComparison], dump: str | None, plan: ImportPlan | None,
                    added: int = 0) -> str:
    """`added`: rows new in PostgreSQL (any table), which a restore of the dump would also remove."""
    named = "; ".join(_difference(row) for row in different)
    back = (f" To go back to the database as it was before the import, restore {dump}: "
            f"{restore_hint(plan, dump)}" if dump and plan else " No pre-import dump was found on the host.")
    if dump and plan and added:
        back += (f" Restoring it also removes the {_plural(added, 'row')} added since the import "
                 "(dump them first if they are to be kept).")
    return (f"VERIFICATION FAILED: imported rows are missing or changed in {len(different)} table(s): "
            f"{named}. Rows the app itself changed or deleted since the import count here too.{back}")
