"""The SQLite import's plan. Everything that can be checked before the host changes is checked
in plan_import: the file, the release it goes into, the deploy lock."""

import hashlib
import tempfile
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import File

from deploy.facts import DockerImageId, TextFile
from deploy.plans.switch_plan import check_lock, link_target
from deploy.settings import settings
from onehost.commands import media, sqlite_import
from onehost.commands.release import ReleaseError, parse_env_file
from onehost.commands.sqlite_import import ImportPlan


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


def media_upload(given: str | None, staging_dir: str) -> media.MediaUpload | None:
    """--data media=DIR: its files' checksums, and a tar of them to upload; None when not given."""
    try:
        directory = media.check_media_dir(given)
    except media.MediaRefused as refused:
        raise DeployError(str(refused)) from None
    if directory is None:
        return None
    manifest = media.local_manifest(directory)
    archive = Path(tempfile.mkdtemp(prefix="onehost-media-")) / media.MEDIA_ARCHIVE_NAME
    media.write_archive(directory, manifest, archive)
    return media.MediaUpload(
        source=str(directory), local_archive=str(archive), archive=f"{staging_dir}/{media.MEDIA_ARCHIVE_NAME}",
        target=media.media_dir(settings().layout.data_dir), files=tuple(sorted(manifest.items())))


def plan_import() -> tuple[ImportPlan, Path]:
    """The plan and the local file, or a DeployError that names the problem and the fix."""
    inputs, deploy = settings().run, settings().deploy   # verify_only with replace_existing is refused
    try:
        sqlite_file = sqlite_import.check_sqlite_file(inputs.sqlite)
    except sqlite_import.ImportRefused as refused:
        raise DeployError(str(refused)) from None
    verify_only, replace = inputs.verify_only, inputs.replace_existing
    layout = settings().layout
    release_dir = link_target(f"{layout.releases}/current")
    if not release_dir:
        raise DeployError(f"{host.name} has no release yet ({layout.releases}/current does not exist): "
                          "deploy the app first (pyinfra deploy/inventory.py deploy/deploy.py --data "
                          "image=NAME:TAG), then import into its database")
    image = current_image(release_dir)
    if not verify_only:
        check_lock(layout)
    name = sqlite_import.staging_name(sqlite_file, sha256_of(sqlite_file))
    upload = media_upload(inputs.media, f"{layout.imports}/{name}")
    plan = ImportPlan(
        staging_dir=f"{layout.imports}/{name}", image=image, release_dir=release_dir,
        layout=layout, db_user=deploy.db_user, db_name=deploy.db_name,
        replace_existing=replace, verify_only=verify_only,
        lock_ttl_seconds=deploy.lock_ttl_seconds, break_lock=deploy.break_lock, media=upload)
    what = ("compare it with the live database (verify_only: nothing changes)" if verify_only else
            "replace the rows of the live database" if replace else "import it into the empty live database")
    logger.info(f"{host.name}: plan: upload {sqlite_file} to {plan.staging_dir}, then {what} "
                f"with {image} ({release_dir.rsplit('/', 1)[-1]})")
    if upload:
        logger.info(f"{host.name}: plan: {len(upload.files)} media file(s) of {upload.source} to "
                    f"{upload.target}, checked by SHA-256")
    return plan, sqlite_file
