"""The host's settings: pyinfra's host.data read once per host into frozen, checked objects.

Every deploy file, plan and task reads its settings here and nowhere else
(tests/unit/test_settings.py fails when another module under deploy/ reads host.data). The keys
and their defaults are deploy/group_data/all.py; `--data` and inventories override them.

A section is built, and checked, the first time it is asked for: the plans ask for the deploy's
sections before the host is touched, so a bad value stops the deploy there, while a bake is never
refused for a deploy-only setting it does not read.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any
from weakref import WeakKeyDictionary

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from onehost.commands import registry, tls
from onehost.commands.switch import HostLayout

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def is_true(value: Any) -> bool:
    """pyinfra's --data gives `true` as True; inventories and files may give "yes" or "1"."""
    return str(value if value is not None else "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class DeploySettings:
    """What the switch and the release work with: database, stack names, timeouts, the lock."""
    db_name: str
    db_user: str
    network_name: str
    postgres_image: str
    nginx_image: str
    server_names: tuple[str, ...]
    keep_releases: int
    pull: bool
    break_lock: bool
    app_static_dir: str | None
    sudo: bool              # pyinfra's _sudo: commands run outside operations use it too


@dataclass(frozen=True)
class TlsSettings:
    plan: tls.TlsPlan
    acme_ca_bundle: Path | None   # on this machine; copied to the host


@dataclass(frozen=True)
class BackupSettings:
    enabled: bool                 # backups=off switches a host's backups off
    bucket: str | None            # None: the host keeps the backup settings it has
    prefix: str
    region: str
    endpoint_url: str | None
    aws_credentials: Path | None  # on this machine; off EC2 only
    metrics_host: str | None
    keep_local: int | None        # checked when a bucket is given
    time: str

    @classmethod
    def from_values(cls, data: Mapping) -> "BackupSettings":
        """Checked with the rest of the plan, before the host is touched."""
        bucket = data.get("backup_bucket")
        switch = str(data.get("backups") or "on")
        if switch not in ("on", "off"):
            raise DeployError(f"backups is {switch!r}: give backups=off to switch this host's backups off "
                              "(without it a deploy keeps the host's backup settings)")
        if switch == "off" and bucket:
            raise DeployError(f"backups=off and backup_bucket={bucket} contradict each other: give "
                              "backup_bucket to back up there, or backups=off to stop backing up")
        credentials = data.get("backup_aws_credentials")
        settings = cls(enabled=switch == "on", bucket=bucket or None, prefix=data.get("backup_prefix"),
                       region=data.get("aws_region"), endpoint_url=data.get("aws_endpoint_url") or None,
                       aws_credentials=Path(credentials).expanduser() if credentials else None,
                       metrics_host=data.get("metrics_host") or None, keep_local=None,
                       time=str(data.get("backup_time") or ""))
        if not bucket:
            return settings
        if not isinstance(bucket, str) or not BUCKET_NAME.match(bucket) or ".." in bucket:
            raise DeployError(f"backup_bucket {bucket!r} is not an S3 bucket name (3-63 lower-case letters, "
                              "digits, dots and hyphens)")
        keep = str(data.get("backup_keep_local"))
        if not keep.isdigit() or int(keep) < 1:
            raise DeployError(f"backup_keep_local is {keep!r}: keep at least 1 local dump, "
                              "e.g. --data backup_keep_local=2")
        if credentials and not settings.aws_credentials.is_file():
            raise DeployError(f"backup_aws_credentials {credentials} does not exist: give an AWS credentials "
                              "file, or leave it unset on EC2 (the instance role is used)")
        if not settings.time.strip() or "\n" in settings.time:
            raise DeployError("backup_time is empty: give a systemd calendar time, e.g. '*-*-* 03:00:00 UTC'")
        return cls(**{**settings.__dict__, "keep_local": int(keep)})


@dataclass(frozen=True)
class RegistrySettings:
    username: str | None
    password_file: str | None
    # for registry.credentials_from (the password comes from the environment or a file)
    values: Mapping = field(default=None, repr=False)

    @classmethod
    def from_values(cls, data: Mapping) -> "RegistrySettings":
        try:
            registry.refuse_password_data(data)
        except registry.RegistryError as error:
            raise DeployError(str(error)) from None
        return cls(data.get("registry_username"), data.get("registry_password_file"), data)

    def credentials(self) -> registry.Credentials | None:
        """Raises registry.RegistryError, with the problem and the fix."""
        return registry.credentials_from(self.values)


@dataclass(frozen=True)
class Settings:
    """One host's settings. `values` is host.data as it was when first read (read-only)."""
    host_name: str
    values: Mapping[str, Any]

    @classmethod
    def from_values(cls, values: Mapping[str, Any], host_name: str = "test-host") -> "Settings":
        return cls(host_name, MappingProxyType(dict(values)))

    # --- keys read one at a time (the bake's packages, the edge's nginx settings, run inputs) ---
    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def flag(self, name: str) -> bool:
        return is_true(self.values.get(name))

    def whole_number(self, name: str) -> int:
        value = str(self.values.get(name))
        if not value.isdigit():
            raise DeployError(f"{name} is {value!r}: give a whole number of seconds, e.g. --data {name}=30")
        return int(value)

    def check_deploy_inputs(self) -> None:
        """The deploy's own sections, checked in this order before the host is touched: each
        raises DeployError naming the problem and the fix."""
        for section in (lambda: self.tls, lambda: self.backups, lambda: self.registry):
            section()

    # --- sections ---------------------------------------------------------------------------
    @cached_property
    def layout(self) -> HostLayout:
        data = self.values
        return HostLayout(data_dir=data["data_dir"], network=data["network_name"], app_port=data["app_port"],
                          server_name=data["server_names"][0], tls=data.get("tls") == "letsencrypt")

    @cached_property
    def deploy(self) -> DeploySettings:
        data = self.values
        return DeploySettings(
            db_name=data["db_name"], db_user=data["db_user"], network_name=data["network_name"],
            postgres_image=data["postgres_image"], nginx_image=data["nginx_image"],
            server_names=tuple(data["server_names"]), keep_releases=int(data["keep_releases"]),
            pull=self.flag("pull"), break_lock=self.flag("break_lock"),
            app_static_dir=data.get("app_static_dir") or None, sudo=bool(data.get("_sudo")))

    @cached_property
    def tls(self) -> TlsSettings:
        """Domains, contact and ACME server checked together, before anything else."""
        data = self.values
        mode = "off" if data.get("tls") is False else data.get("tls")
        try:
            plan = tls.tls_plan(mode, data.get("server_names"), data.get("letsencrypt_email"),
                                data.get("acme_server"), data["data_dir"])
        except tls.TlsError as error:
            raise DeployError(str(error)) from None
        bundle = data.get("acme_ca_bundle")
        if plan.enabled and bundle and not Path(bundle).expanduser().is_file():
            raise DeployError(f"acme_ca_bundle {bundle} does not exist: give a PEM file of the ACME "
                              "server's CA, or leave it unset for Let's Encrypt")
        return TlsSettings(plan, Path(bundle).expanduser() if bundle else None)

    @cached_property
    def backups(self) -> BackupSettings:
        return BackupSettings.from_values(self.values)

    @cached_property
    def registry(self) -> RegistrySettings:
        return RegistrySettings.from_values(self.values)


_BY_HOST: "WeakKeyDictionary[Any, Settings]" = WeakKeyDictionary()


def settings() -> Settings:
    """The current host's settings, read from host.data the first time they are asked for."""
    current = host._get_module()  # the Host object behind pyinfra's context proxy
    found = _BY_HOST.get(current)
    if found is None:
        found = _BY_HOST[current] = Settings(host.name, MappingProxyType(host.data.dict()))
    return found



# pyinfra 3.x keeps --dry only among its click command's parameters: `--dry` is an option of
# `cli`, handed to `_main(..., dry, ...)` and stored in neither Config nor State
# (pyinfra-dev/pyinfra, pyinfra_cli/cli.py). That click context is current while pyinfra loads the
# inventory (in its main greenlet), but not in the pool greenlets that run deploy files
# (pyinfra_cli/util.py: `state.pool.spawn(load_file, host)`; gevent makes click's thread-local
# greenlet-local). So the inventory records it, and the deploy files read the record.
_dry_run_given: list[bool] = []


def record_dry_run() -> None:
    """Called by deploy/inventory.py, inside pyinfra's command."""
    import click

    context = click.get_current_context(silent=True)
    _dry_run_given[:] = [bool(context is not None and context.find_root().params.get("dry"))]


def dry_run_requested() -> bool:
    """pyinfra was given --dry (as pyinfra parsed its command line)."""
    return bool(_dry_run_given and _dry_run_given[0])
