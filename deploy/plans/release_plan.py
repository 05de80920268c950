"""What this deploy will put on the host, worked out and checked before anything changes."""

import getpass
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from deploy.facts import DataStackIdentity, DockerImageId, PendingMigrations, asked_while_planning
from deploy.plans import local_images
from deploy.plans import switch_plan as switching
from deploy.plans.questions import ask_deploy_questions
from deploy.settings import dry_run_requested, settings
from onehost.aws import secrets
from onehost.commands import processes, registry, release
from onehost.commands.switch import SwitchPlan
from onehost.commands.tls import TlsPlan
from onehost.local import app_image
from onehost.local.registry import resolve_digest
from onehost.paths import REPO_ROOT

COMPOSE_DIR = REPO_ROOT / "compose"


@dataclass(frozen=True)
class HostImage:
    reference: str            # as the user named it
    image_id: str | None      # None: the host pulls it from a registry
    compose_reference: str    # what compose runs on the host: pinned to the id or the digest
    digest: str | None = None  # pulled by digest: the manifest digest the registry gave at plan time
    # For the pull only; never written to the host's disks, release files or history.
    credentials: registry.Credentials | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReleasePlan:
    id: str
    releases: str             # /data/releases
    directory: str            # /data/releases/<id>
    app: HostImage
    postgres: HostImage
    nginx: HostImage
    app_env: str
    release_env: str
    postgres_env: str
    record: str
    switch: SwitchPlan
    tls: TlsPlan
    broker: HostImage | None = None   # the broker stack's image, when the host runs one


def _app_commit(app: HostImage) -> str | None:
    """The app's own commit, as `onehost build-app` labelled the image; None for an image without
    the label or one the host pulls (this tool's checkout says nothing about the app)."""
    return local_images.label(app.reference, app_image.REVISION_LABEL) if app.image_id else None


def _check_data_identity(postgres_env: dict[str, str]) -> None:
    """Refuse before the host changes when the data stack would restart as another user or
    database than its data volume was initialised with (the app could not log in)."""
    current = asked_while_planning(DataStackIdentity, path=f"{settings().layout.data_stack_dir}/postgres.env")
    refusal = release.data_identity_refusal(current, postgres_env, host.name,
                                            os.environ.get("ONEHOST_APP_CONFIG"))
    if refusal:
        raise DeployError(refusal)


def _host_image(reference: str, pull: bool) -> HostImage:
    """A local image is shipped and pinned by id; without one the host must pull it."""
    image_id = local_images.image_id(reference)
    if image_id is None and not pull:
        raise DeployError(
            f"image {reference} does not exist locally: build it (`onehost build-app --tag "
            f"{reference}`), or give a registry reference with --data pull=true")
    pinned = release.pinned_reference(reference, image_id) if image_id else reference
    return HostImage(reference, image_id, pinned)


def _registry_image(reference: str) -> HostImage:
    """pull=true: the registry's digest for the reference, asked now (wrong credentials, a
    missing tag or an unreachable registry stop the deploy before the host changes); the host
    pulls and runs `repository@digest`."""
    try:
        parsed = registry.parse_reference(reference)
        credentials = settings().registry.credentials()
        digest = resolve_digest(parsed, credentials)
    except registry.RegistryError as error:
        raise DeployError(str(error)) from None
    return HostImage(reference, None, parsed.pinned(digest), digest, credentials)


def _read_app_env(path_text: str, check: bool = True) -> dict[str, str]:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DeployError(f"env file {path} does not exist: give the app's settings and secrets "
                          "as KEY=value lines with --data env_file=PATH")
    try:
        env = release.parse_env_file(path.read_text(), str(path))
        if check:
            release.check_app_env(env, str(path))
    except release.ReleaseError as error:
        raise DeployError(str(error)) from None
    return env


def _app_settings() -> dict[str, str]:
    """The env file's settings; with ssm_path, SSM Parameter Store's on top (they win)."""
    inputs = settings().run
    if not inputs.ssm_path:
        if not inputs.env_file:
            raise DeployError("no env file given: pass the app's settings with --data env_file=PATH, "
                              "or read them from SSM Parameter Store with --data ssm_path=/app/env/")
        return _read_app_env(inputs.env_file)
    import boto3
    file_env = _read_app_env(inputs.env_file, check=False) if inputs.env_file else {}
    try:
        ssm = boto3.client("ssm", region_name=settings().deploy.aws_region)
        env = {**file_env, **secrets.read_parameters(ssm, inputs.ssm_path)}
        release.check_app_env(env, f"SSM {inputs.ssm_path}")
    except release.ReleaseError as error:
        raise DeployError(str(error)) from None
    return env


def plan_release() -> ReleasePlan:
    settings().check_deploy_inputs()
    tls_plan = settings().tls.plan
    deploy = settings().deploy
    image = settings().run.image
    if not image:
        raise DeployError("no image given: pass the app image with --data image=NAME:TAG (or --data tag=TAG "
                          "with the image repository from ONEHOST_APP_CONFIG)")
    user_env = _app_settings()
    pull = deploy.pull
    if not pull:
        local_images.describe(image, deploy.postgres_image, deploy.nginx_image,
                              *([settings().processes.broker_image] if settings().processes.broker else []))
    app = _registry_image(image) if pull else _host_image(image, pull)

    app_env = {
        "ALLOWED_HOSTS": ",".join(deploy.server_names),
        "DB_HOST": "postgres", "DB_PORT": "5432",
        "DB_NAME": deploy.db_name, "DB_USER": deploy.db_user,
        **processes.broker_env(settings().processes.broker),
        **user_env,
    }
    # The version /health/ reports goes with the image, in release.env (which the app reads too:
    # compose/app.yaml), so a new tag of the same settings has the same app.env, which the host
    # then copies from the release before instead of receiving it (deploy/tasks/app_release.py).
    release_env = {"APP_IMAGE": app.compose_reference, "NETWORK_NAME": deploy.network_name,
                   "APP_VERSION": user_env.get("APP_VERSION", release.image_tag(image))}
    postgres_env = {"POSTGRES_USER": app_env["DB_USER"], "POSTGRES_DB": app_env["DB_NAME"],
                    "POSTGRES_PASSWORD": app_env["DB_PASSWORD"]}

    app_env_text = release.render_env(app_env)
    release_env_text = release.render_env(release_env)
    compose_text = (COMPOSE_DIR / "app.yaml").read_text()
    release_id = release.release_id(image, app.image_id or app.digest or image, compose_text,
                                    app_env_text, release_env_text)
    git_commit = _app_commit(app)
    record = release.release_record(
        release_id, image, app.image_id, git_commit,
        deployed_by=f"{getpass.getuser()}@{socket.gethostname()}",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"), image_digest=app.digest)
    releases = settings().layout.releases
    directory = f"{releases}/{release_id}"
    postgres, nginx = _host_image(deploy.postgres_image, pull), _host_image(deploy.nginx_image, pull)
    broker = _host_image(settings().processes.broker_image, pull) if settings().processes.broker else None
    ask_deploy_questions(directory, [each.compose_reference for each in (app, postgres, nginx, broker) if each],
                         tls_plan)
    _check_data_identity(postgres_env)
    switch_plan = switching.switch_plan("deploy", release_id, directory, image, app.compose_reference,
                                     app.image_id, git_commit, pulled_by_digest=app.digest is not None)
    switching.describe(switch_plan, _pending_migrations(switch_plan))
    return ReleasePlan(
        id=release_id, releases=releases, directory=directory, app=app,
        postgres=postgres, nginx=nginx, app_env=app_env_text, release_env=release_env_text,
        postgres_env=release.render_env(postgres_env), record=record, switch=switch_plan, tls=tls_plan,
        broker=broker)


def _pending_migrations(plan: SwitchPlan) -> str:
    """For the plan printout: asked only on --dry (it starts a container), and only when it can be."""
    if switching.is_live(plan):
        return "none (already live)"
    if not dry_run_requested():
        return "checked on the new colour before the switch"
    if not plan.replaces:
        return "all (first release)"
    if asked_while_planning(DockerImageId, reference=plan.host_image) is None:
        return "not known until the image is on the host"
    pending = host.get_fact(PendingMigrations, image=plan.host_image, release_dir=plan.replaces)
    if isinstance(pending, str):
        return f"could not be checked ({pending})"
    return ", ".join(pending) + " (the database is dumped first)" if pending else "none"

