"""Running the SQLite import (onehost/commands/sqlite_import.py says what it does, step by step)
through a `Runner`, which deploy/tasks/sqlite_import.py binds to the pyinfra connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from onehost.commands import lock as deploy_lock
from onehost.commands.sqlite_import import (
    ImportFailed,
    ImportPlan,
    ImportRefused,
    TableComparison,
    VerificationFailed,
    check_inspection,
    compare,
    comparison_table,
    container_user,
    differences,
    failure_message,
    hand_over,
    holding_rows,
    in_container,
    latest_pre_import_dump,
    left_out_warning,
    new_rows_note,
    parse_container_user,
    parse_report,
    pg_dump,
    pre_import_dump_path,
    progress_lines,
    refusal,
    remove_staging,
    restore_hint,
)
from onehost.commands.switch import CommandError, Runner
from onehost.remote.host_run import LockedHostRun

# The in-container side each run uploads (CONTAINER_FILES).
DJANGO_SIDE = Path(__file__).resolve().parent.parent / "django_side"


# --- running it ----------------------------------------------------------------------------

@dataclass
class SqliteImport(LockedHostRun):
    plan: ImportPlan
    run_command: Runner
    say: Callable[[str], None] = print
    owner: deploy_lock.LockOwner = field(default_factory=deploy_lock.LockOwner.here)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    dump: str | None = None

    def script(self, *arguments: str) -> dict:
        """Runs the in-container script; its progress is said, its report returned."""
        ok, output = self.run_command(in_container(self.plan, *arguments))
        for line in progress_lines(output):
            self.say(f"  {line}")
        report = parse_report(output)
        if not ok or report is None:
            raise CommandError(in_container(self.plan, *arguments), output)
        return report

    # -- steps -----------------------------------------------------------------------------
    def hand_over_staging(self) -> None:
        uid, gid = parse_container_user(self.run(container_user(self.plan.image)))
        self.run(hand_over(self.plan.staging_dir, uid, gid))
        self.say(f"staging directory {self.plan.staging_dir} handed to the image's user ({uid}:{gid})")

    def check_target(self) -> None:
        inspection = self.script("inspect")
        check_inspection(inspection)
        holding = holding_rows(inspection)
        if holding and not self.plan.replace_existing:
            raise ImportRefused(refusal(holding))
        if holding:
            self.say(f"replace_existing: the rows of {len(holding)} table(s) will be replaced")
        else:
            self.say("target: no rows in the app's tables")

    def remove_copy(self) -> None:
        """A refused import leaves no copy of the user's data behind (it runs under the lock, so no
        other import of the same file is reading this directory)."""
        try:
            self.run(remove_staging(self.plan))
            self.say(f"refused: removed the uploaded copy {self.plan.staging_dir}")
        except CommandError as failure:
            self.say(f"could not remove the uploaded copy {self.plan.staging_dir}: {failure}")

    def warn_left_out(self, report: dict) -> None:
        warning = left_out_warning(report.get("left_out"))
        if warning:
            self.say(warning)

    def dump_target(self) -> None:
        dump = pre_import_dump_path(self.plan.layout.backups, self.now())
        self.run(pg_dump(self.plan, dump))
        self.dump = dump
        self.say(f"pre-import dump: {dump}")

    def verify(self) -> list[TableComparison]:
        report = self.script("verify")
        self.warn_left_out(report)
        rows = compare(report)
        self.say("comparison, SQLite file against PostgreSQL, row by primary key:\n" + comparison_table(rows))
        different = differences(rows)
        if different:
            dump = self.dump or self.run(latest_pre_import_dump(self.plan.layout.backups)).strip() or None
            raise VerificationFailed(failure_message(different, dump, self.plan,
                                                     added=sum(row.new for row in rows)))
        self.say(f"verified: {len(rows)} table(s), every row of the SQLite file is in PostgreSQL, equal")
        note = new_rows_note(rows)
        if note:
            self.say(note)
        return rows

    def execute(self) -> list[TableComparison]:
        self.hand_over_staging()
        if self.plan.verify_only:
            return self.verify()
        self.take_lock()
        try:
            try:
                self.check_target()
            except ImportRefused:
                self.remove_copy()
                raise
            self.dump_target()
            self.say("import:")
            try:
                self.warn_left_out(self.script("import", *(["--flush"] if self.plan.replace_existing else [])))
            except CommandError as failure:
                # loaddata runs in one transaction: a failure there leaves the target as it was.
                raise ImportFailed(f"the import failed ({failure}); the target was dumped first to "
                                   f"{self.dump}: {restore_hint(self.plan, self.dump)}") from None
            return self.verify()
        finally:
            self.release_lock()
