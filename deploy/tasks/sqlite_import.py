"""Moving a project's SQLite data into the host's PostgreSQL (onehost.remote.sqlite_import) over pyinfra,
as deploy/plans/sqlite_import_plan.py planned it."""

import shlex
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import NestedOperationError
from pyinfra.operations import files, python

from deploy.lib.private_upload import private_file
from deploy.settings import settings
from onehost.commands import lock as deploy_lock
from onehost.commands import sqlite_import
from onehost.commands.sqlite_import import ImportPlan
from onehost.commands.switch import CommandError
from onehost.remote.sqlite_import import DJANGO_SIDE, SqliteImport


@deploy("Import SQLite data")
def import_sqlite(plan: ImportPlan, sqlite_file: Path):
    files.directory(name="Create the imports directory", path=plan.staging_dir.rsplit("/", 1)[0], mode="700")
    files.directory(name=f"Create {plan.staging_dir}", path=plan.staging_dir, mode="700")
    private_file(name="Upload the SQLite file (the user's data: mode 0600)", content=sqlite_file,
                 dest=f"{plan.staging_dir}/{sqlite_import.SQLITE_NAME}")
    if plan.media and not plan.verify_only:
        private_file(name=f"Upload the media files of {plan.media.source} (a tar, mode 0600)",
                     content=Path(plan.media.local_archive), dest=plan.media.archive)
    for name in sqlite_import.CONTAINER_FILES:
        files.put(name=f"Upload {name}", src=str(DJANGO_SIDE / name),
                  dest=f"{plan.staging_dir}/{name}", mode="644")
    python.call(name=("Compare the SQLite file with the live database" if plan.verify_only else
                      "Dump the live database, import the SQLite data, compare"),
                function=run_import, plan=plan)


def run_import(plan: ImportPlan) -> None:
    sudo = settings().deploy.sudo

    def run_command(command: list[str]) -> tuple[bool, str]:
        ok, output = host.run_shell_command(shlex.join(command), _sudo=sudo)
        return ok, "\n".join(output.stdout_lines + output.stderr_lines)

    def say(text: str) -> None:
        for line in text.splitlines():
            logger.info(f"{host.name}: {line}")

    try:
        SqliteImport(plan, run_command, say=say).execute()
    except (sqlite_import.ImportRefused, sqlite_import.VerificationFailed, sqlite_import.ImportFailed,
            deploy_lock.LockHeld, CommandError) as failure:
        # One clear line; pyinfra would print a traceback for any other exception.
        host.log_styled(str(failure), fg="red", log_func=logger.error)
        raise NestedOperationError(str(failure)) from None
