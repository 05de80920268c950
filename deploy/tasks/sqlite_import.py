"""Moving a project's SQLite data into the host's PostgreSQL (onehost.sqlite_import) over pyinfra.

Everything that can be checked before the host changes is checked in plan_import: the file,
the release it goes into, the deploy lock.
"""

import hashlib
import shlex
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError, NestedOperationError
from pyinfra.facts.files import File
from pyinfra.operations import files, python

from deploy.facts import DockerImageId, TextFile
from deploy.tasks import switch as switch_tasks
from deploy.tasks.private_upload import private_file
from onehost import lock as deploy_lock
from onehost import sqlite_import
from onehost.release import ReleaseError, parse_env_file
from onehost.sqlite_import import ImportPlan, SqliteImport
from onehost.switch import CommandError


def sha256_of(path: Path) -> str:
    with path.open("rb") as opened:
        return hashlib.file_digest(opened, "sha256").hexdigest()


def current_image(release_dir: str) -> str:
    env_text = host.get_fact(TextFile, path=f"{release_dir}/release.env")
    try:
        image = parse_env_file(env_text or "", f"{release_dir}/release.env").get("APP_IMAGE")
    except ReleaseError as error:
        raise DeployError(str(error)) from None
    if not image:
        raise DeployError(f"{release_dir}/release.env names no APP_IMAGE: deploy the app again, then import")
    if host.get_fact(DockerImageId, reference=image) is None:
        raise DeployError(f"the current release's image {image} is not on {host.name}: deploy the app "
                          "again, then import")
    if not host.get_fact(File, path=f"{release_dir}/app.env"):
        raise DeployError(f"{release_dir}/app.env is missing: deploy the app again, then import")
    return image


def plan_import() -> tuple[ImportPlan, Path]:
    """The plan and the local file, or a DeployError that names the problem and the fix."""
    try:
        sqlite_file = sqlite_import.check_sqlite_file(host.data.get("sqlite"))
    except sqlite_import.ImportRefused as refused:
        raise DeployError(str(refused)) from None
    verify_only, replace = switch_tasks.flag("verify_only"), switch_tasks.flag("replace_existing")
    if verify_only and replace:
        raise DeployError("verify_only=true changes nothing and replace_existing=true imports: "
                          "give one of them")
    layout = switch_tasks.host_layout()
    release_dir = switch_tasks.link_target(f"{layout.releases}/current")
    if not release_dir:
        raise DeployError(f"{host.name} has no release yet ({layout.releases}/current does not exist): "
                          "deploy the app first (pyinfra deploy/inventory.py deploy/deploy.py --data "
                          "image=NAME:TAG), then import into its database")
    image = current_image(release_dir)
    if not verify_only:
        switch_tasks.check_lock(layout)
    name = sqlite_import.staging_name(sqlite_file, sha256_of(sqlite_file))
    plan = ImportPlan(
        staging_dir=f"{host.data.data_dir}/imports/{name}", image=image, release_dir=release_dir,
        layout=layout, db_user=host.data.db_user, db_name=host.data.db_name,
        replace_existing=replace, verify_only=verify_only,
        lock_ttl_seconds=switch_tasks.whole_number("lock_ttl_seconds"),
        break_lock=switch_tasks.flag("break_lock"))
    what = ("compare it with the live database (verify_only: nothing changes)" if verify_only else
            "replace the rows of the live database" if replace else "import it into the empty live database")
    logger.info(f"{host.name}: plan: upload {sqlite_file} to {plan.staging_dir}, then {what} "
                f"with {image} ({release_dir.rsplit('/', 1)[-1]})")
    return plan, sqlite_file


@deploy("Import SQLite data")
def import_sqlite(plan: ImportPlan, sqlite_file: Path):
    files.directory(name="Create the imports directory", path=plan.staging_dir.rsplit("/", 1)[0], mode="700")
    files.directory(name=f"Create {plan.staging_dir}", path=plan.staging_dir, mode="700")
    private_file(name="Upload the SQLite file (the user's data: mode 0600)", content=sqlite_file,
                 dest=f"{plan.staging_dir}/{sqlite_import.SQLITE_NAME}")
    for name in sqlite_import.CONTAINER_FILES:
        files.put(name=f"Upload {name}", src=str(sqlite_import.DJANGO_SIDE / name),
                  dest=f"{plan.staging_dir}/{name}", mode="644")
    python.call(name=("Compare the SQLite file with the live database" if plan.verify_only else
                      "Dump the live database, import the SQLite data, compare"),
                function=run_import, plan=plan)


def run_import(plan: ImportPlan) -> None:
    sudo = bool(host.data.get("_sudo"))

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
