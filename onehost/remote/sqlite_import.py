"""Running the SQLite import (onehost/commands/sqlite_import.py says what it does, step by step)
through a `Runner`, which deploy/tasks/sqlite_import.py binds to the pyinfra connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from onehost.commands import lock as deploy_lock
from onehost.commands import media
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
    kept_note,
    kept_rows,
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
    image_owner: str | None = None   # `uid:gid` the release's image runs as

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
        self.image_owner = f"{uid}:{gid}"
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
            self.say("target: no rows in the tables the SQLite file fills")
        kept = kept_rows(inspection)
        if kept and not self.plan.replace_existing:
            self.say(kept_note(kept))

    def media_on_host(self) -> dict[str, str]:
        return media.parse_manifest(self.run(media.manifest_command(self.plan.media.target)))

    def check_media_conflicts(self) -> None:
        """Before anything changes: no file of the project's may replace another on the host."""
        upload = self.plan.media
        clashing = media.conflicts(upload.manifest, self.media_on_host())
        if clashing:
            raise ImportRefused(media.conflict_message(clashing, upload.target))
        self.say(f"media: {len(upload.files)} file(s) from {upload.source}, none clashing with {upload.target}")

    def verify_media(self) -> None:
        upload = self.plan.media
        comparison = media.compare_manifests(upload.manifest, self.media_on_host())
        if not comparison.intact:
            raise VerificationFailed(media.verification_message(comparison, upload.target))
        self.say(media.verified_message(comparison, upload.target))

    def move_media(self) -> None:
        """Files already there with the same content are kept as they are (check_media_conflicts
        refused any other), the rest unpacked, given to the image's user, then checked."""
        upload = self.plan.media
        self.run(["mkdir", "-p", upload.target])
        self.run(media.extract_archive(upload.archive, upload.target))
        self.run(media.own_tree(upload.target, self.image_owner))
        self.say(f"media: unpacked into {upload.target}, given to {self.image_owner}")
        self.verify_media()

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
            rows = self.verify()
            if self.plan.media:
                self.verify_media()
            return rows
        self.take_lock()
        try:
            try:
                if self.plan.media:
                    self.check_media_conflicts()
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
            rows = self.verify()
            if self.plan.media:
                self.move_media()
            return rows
        finally:
            self.release_lock()
