"""The host's settings: pyinfra's host.data read once per host into frozen, checked objects.

Every deploy file, plan and task reads its settings here and nowhere else
(tests/unit/test_settings.py fails when another module under deploy/ reads host.data, or reads a
key of these settings by name). The keys and their defaults are deploy/group_data/all.py;
`--data` and inventories override them. One section for each concern:

    layout      where things live on the host          deploy      the release and the switch
    tls         the certificate plan                   backups     the nightly backup
    registry    the app image's registry login         edge        nginx's site settings
    cloudwatch  the CloudWatch agent                   bake        what the image installs
    processes   workers, beat and their broker
    run         this run's own inputs (image, env_file, ssm_path, release, sqlite, backup, ...)

A section is built, and checked, the first time it is asked for: the plans ask for the deploy's
sections before the host is touched, so a bad value stops the deploy there, while a bake is never
refused for a deploy-only setting it does not read.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any
from weakref import WeakKeyDictionary

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from onehost.commands import cloudwatch_config, registry, tls
from onehost.commands import processes as process_commands
from onehost.commands.switch import HostLayout
from onehost.local import app_config

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BACKUP_NAME = re.compile(r"^[A-Za-z0-9_]+-\d{8}T\d{6}Z\.dump$")
# What nginx reads as one value of a directive: no white space, quotes, ; { } # $ or backslash.
NGINX_VALUE = re.compile(r"^[^\s;{}'\"#$\\]+$")
# One directive of a Content-Security-Policy: its name, then its values, each one word of
# printable characters (the policy is written inside a double-quoted nginx string, so no " or \
# to end or escape it, no $ for nginx to expand, no { } and no line break).
CSP_DIRECTIVE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*(?: +[!#%&'-:<-\[\]-z|~]+)*$")
# A login name useradd takes everywhere (letters, digits, _ and -, starting with a letter or _).
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# A zone as /usr/share/zoneinfo names it: Etc/UTC, Europe/Paris, America/Argentina/Salta.
TIME_ZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
BAKE_TARGETS = ("local", "aws")


def is_true(value: Any) -> bool:
    """pyinfra's --data gives `true` as True; inventories and files may give "yes" or "1"."""
    return str(value if value is not None else "").lower() in ("1", "true", "yes")


def whole_number(data: Mapping, name: str, example: Any = 30, unit: str = "seconds") -> int:
    value = str(data.get(name))
    if not value.isdigit():
        of_unit = f" of {unit}" if unit else ""
        raise DeployError(f"{name} is {value!r}: give a whole number{of_unit}, e.g. --data {name}={example}")
    return int(value)


def content_security_policy(data: Mapping, name: str, example: str) -> str:
    """A Content-Security-Policy header value: directives separated by ;."""
    value = data.get(name)
    directives = [part.strip() for part in value.split(";")] if isinstance(value, str) else []
    if not any(directives) or not all(CSP_DIRECTIVE.match(part) for part in directives if part):
        raise DeployError(f"{name} is {value!r}: give a Content-Security-Policy, directives separated by ; "
                          f"(no \" \\ $ {{ }} or line breaks), e.g. --data \"{name}={example}\"")
    return value


def given(value: Any) -> str | None:
    """A value given as data, as text; None when it is not given (None or empty)."""
    return None if value is None or value == "" else str(value)


def tls_mode(data: Mapping) -> str:
    """`tls` as given (pyinfra reads --data tls=false as False, which is off). The layout's
    `tls` and the TLS section both come from here."""
    return "off" if data.get("tls") is False else data.get("tls")


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
    health_timeout_seconds: int
    drain_seconds: int
    lock_ttl_seconds: int
    aws_region: str | None  # where the app's SSM parameters (ssm_path) are read

    @classmethod
    def from_values(cls, data: Mapping) -> "DeploySettings":
        return cls(
            db_name=data["db_name"], db_user=data["db_user"], network_name=data["network_name"],
            postgres_image=data["postgres_image"], nginx_image=data["nginx_image"],
            server_names=tuple(data["server_names"]), keep_releases=int(data["keep_releases"]),
            pull=is_true(data.get("pull")), break_lock=is_true(data.get("break_lock")),
            app_static_dir=data.get("app_static_dir") or None, sudo=bool(data.get("_sudo")),
            health_timeout_seconds=whole_number(data, "health_timeout_seconds", 120),
            drain_seconds=whole_number(data, "drain_seconds", 30),
            lock_ttl_seconds=whole_number(data, "lock_ttl_seconds", 900),
            aws_region=data.get("aws_region") or None)


@dataclass(frozen=True)
class TlsSettings:
    plan: tls.TlsPlan
    acme_ca_bundle: Path | None   # on this machine; copied to the host

    @classmethod
    def from_values(cls, data: Mapping) -> "TlsSettings":
        """Domains, contact and ACME server checked together, before anything else."""
        try:
            plan = tls.tls_plan(tls_mode(data), data.get("server_names"), data.get("letsencrypt_email"),
                                data.get("acme_server"), data["data_dir"])
        except tls.TlsError as error:
            raise DeployError(str(error)) from None
        bundle = data.get("acme_ca_bundle")
        if plan.enabled and bundle and not Path(bundle).expanduser().is_file():
            raise DeployError(f"acme_ca_bundle {bundle} does not exist: give a PEM file of the ACME "
                              "server's CA, or leave it unset for Let's Encrypt")
        return cls(plan, Path(bundle).expanduser() if bundle else None)


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


def _example(value: Any) -> dict:
    return {"example": value}


@dataclass(frozen=True)
class EdgeSettings:
    """nginx's site settings. Each field is a variable of the templates in nginx/templates/ and
    the group_data key of the same name; `example` is what an error suggests."""
    server_names: tuple[str, ...] = field(metadata=_example('\'["api.example.com"]\''))
    client_max_body_size: str = field(metadata=_example("10m"))
    proxy_connect_timeout: str = field(metadata=_example("5s"))
    proxy_send_timeout: str = field(metadata=_example("35s"))
    proxy_read_timeout: str = field(metadata=_example("35s"))
    resolver_valid: str = field(metadata=_example("10s"))
    api_rate_limit: str = field(metadata=_example("20r/s"))
    api_rate_limit_burst: int = field(metadata=_example(40))
    api_rate_limit_zone_size: str = field(metadata=_example("10m"))
    hsts_max_age: int = field(metadata=_example(63072000))
    hsts_include_subdomains: bool = field(metadata=_example("true"))
    hsts_preload: bool = field(metadata=_example("true"))
    cloudflare: bool = field(metadata=_example("true"))
    client_header_timeout: str = field(metadata=_example("10s"))
    client_body_timeout: str = field(metadata=_example("10s"))
    send_timeout: str = field(metadata=_example("10s"))
    keepalive_timeout: str = field(metadata=_example("30s"))
    connections_per_client: int = field(metadata=_example(32))
    connections_zone_size: str = field(metadata=_example("5m"))
    public_https_port: int = field(metadata=_example(443))
    # Content-Security-Policy: on HTML the app answers (the admin, DRF's browsable API), and on
    # everything else (JSON, nginx's own answers, static files).
    content_security_policy_html: str = field(metadata=_example(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"))
    content_security_policy: str = field(metadata=_example("default-src 'none'; frame-ancestors 'none'"))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(item.name for item in fields(cls))

    @classmethod
    def from_values(cls, data: Mapping) -> "EdgeSettings":
        """Each value checked for what nginx reads in its place, so a bad one stops the deploy
        before the host is touched instead of at `nginx -t`."""
        values = {}
        for item in fields(cls):
            value, example = data.get(item.name), item.metadata["example"]
            if item.type is bool:
                values[item.name] = is_true(value)
            elif item.type is int:
                values[item.name] = whole_number(data, item.name, example, unit="")
            elif item.name == "server_names":
                if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
                    raise DeployError(f"server_names is {value!r}: give a list of names, "
                                      f"e.g. --data server_names={example}")
                values[item.name] = tuple(value)
            elif item.name.startswith("content_security_policy"):
                values[item.name] = content_security_policy(data, item.name, example)
            elif isinstance(value, str) and NGINX_VALUE.match(value):
                values[item.name] = value
            else:
                raise DeployError(f"{item.name} is {value!r}: give one nginx value (no spaces, quotes, "
                                  f"; {{ }} # or $), e.g. --data {item.name}={example}")
        return cls(**values)

    def template_values(self) -> dict[str, Any]:
        """The templates' variables from the settings (tls, static files and CloudFlare's
        ranges come from the plan and the repository)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class CloudWatchSettings:
    """The CloudWatch agent: what its config (onehost/commands/cloudwatch_config.py) is rendered
    from, checked by rendering it when the section is read; whether this target installs the
    agent's package (it cannot be downloaded for the local image)."""
    agent_package: bool           # AWS targets (bake_target=aws), or cloudwatch_agent_package
    namespace: str
    log_group: str
    retention_days: int
    disks: tuple[str, ...]
    log_files: Mapping[str, str]  # log stream -> file (a glob follows every match)
    container_logs: str           # what the containers' stream ships: "errors" or "all"
    request_sample: int
    counted_terms: tuple[str, ...]

    @classmethod
    def from_values(cls, data: Mapping) -> "CloudWatchSettings":
        target = data.get("bake_target")
        if target not in BAKE_TARGETS:
            raise DeployError(f"bake_target is {target!r}: give one of {', '.join(BAKE_TARGETS)} "
                              "(the AMI build passes --data bake_target=aws)")
        disks, log_files = data.get("cloudwatch_disks"), data.get("cloudwatch_log_files")
        terms = data.get("cloudwatch_counted_terms") or ()
        if isinstance(disks, str) or not isinstance(disks, (list, tuple)):
            raise DeployError(f"cloudwatch_disks is {disks!r}: give a list of mount points, "
                              "e.g. --data 'cloudwatch_disks=[\"/\", \"/data\"]'")
        if not isinstance(log_files, Mapping):
            raise DeployError(f"cloudwatch_log_files is {log_files!r}: give log streams and their files, "
                              "e.g. --data 'cloudwatch_log_files={\"syslog\": \"/var/log/syslog\"}'")
        if isinstance(terms, str) or not isinstance(terms, (list, tuple)):
            raise DeployError(f"cloudwatch_counted_terms is {terms!r}: give a list of the terms the "
                              "stack's metric filters count (deploy/aws/stack.yaml)")
        section = cls(
            agent_package=is_true(data.get("cloudwatch_agent_package")) or target == "aws",
            namespace=str(data.get("cloudwatch_namespace")), log_group=str(data.get("cloudwatch_log_group")),
            retention_days=whole_number(data, "cloudwatch_log_retention_days", 7, unit="days"),
            disks=tuple(disks), log_files=MappingProxyType(dict(log_files)),
            container_logs=data.get("cloudwatch_container_logs"),
            request_sample=whole_number(data, "cloudwatch_request_sample", 16, unit=""),
            counted_terms=tuple(terms))
        section.agent_config()
        return section

    def agent_config(self) -> dict:
        """The agent's JSON document; DeployError when a setting is out of range or the document
        would not keep the host's promises (cloudwatch_config.problems)."""
        try:
            filters = cloudwatch_config.container_log_filters(
                self.container_logs, sample=self.request_sample, counted_terms=list(self.counted_terms))
            config = cloudwatch_config.render(
                namespace=self.namespace, log_group=self.log_group, retention_days=self.retention_days,
                disks=list(self.disks), log_files=dict(self.log_files),
                log_filters={cloudwatch_config.CONTAINERS_STREAM: filters})
        except ValueError as error:   # the message names the setting and the fix
            raise DeployError(f"the CloudWatch agent configuration: {error}") from None
        problems = cloudwatch_config.problems(
            config, log_group=self.log_group, disks=list(self.disks), log_files=list(self.log_files.values()),
            retention_days=self.retention_days, counted_terms=list(self.counted_terms))
        if problems:
            raise DeployError("the CloudWatch agent configuration is incomplete: " + "; ".join(problems))
        return config


def package_names(data: Mapping, name: str) -> tuple[str, ...]:
    """A list of Debian package names (one name alone is a list of one, as apt.packages takes it)."""
    value = data.get(name)
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names \
            or not all(isinstance(item, str) and item.strip() for item in names):
        raise DeployError(f"{name} is {value!r}: give a list of Debian package names, "
                          f"e.g. --data '{name}=[\"curl\"]'")
    return tuple(names)


@dataclass(frozen=True)
class BakeSettings:
    """What the bake installs and sets up on every host (deploy/bake.py's tasks)."""
    admin_user: str
    timezone: str
    data_volume_label: str
    data_volume_fstype: str
    docker_packages: tuple[str, ...]
    hardening_packages: tuple[str, ...]
    cloud_init_packages: tuple[str, ...]
    backup_packages: tuple[str, ...]
    tls_packages: tuple[str, ...]
    data_volume_packages: tuple[str, ...]

    @classmethod
    def from_values(cls, data: Mapping) -> "BakeSettings":
        admin, zone = str(data.get("admin_user")), str(data.get("timezone"))
        label, fstype = str(data.get("data_volume_label")), str(data.get("data_volume_fstype"))
        if not USER_NAME.match(admin):
            raise DeployError(f"admin_user is {admin!r}: give a login name (lower-case letters, digits, _ and -, "
                              "starting with a letter), e.g. --data admin_user=admin")
        if not TIME_ZONE.match(zone) or ".." in zone:
            raise DeployError(f"timezone is {zone!r}: give a zone of /usr/share/zoneinfo, e.g. --data "
                              "timezone=Etc/UTC")
        # e2label(8): an ext2/3/4 label is at most 16 characters; fstab's LABEL= is one word.
        if not re.match(r"^[A-Za-z0-9_.-]{1,16}$", label):
            raise DeployError(f"data_volume_label is {label!r}: give at most 16 letters, digits, '.', '_' "
                              "or '-', e.g. --data data_volume_label=onehost-data")
        if not re.match(r"^[a-z0-9]+$", fstype):
            raise DeployError(f"data_volume_fstype is {fstype!r}: give a file system type, e.g. "
                              "--data data_volume_fstype=ext4")
        return cls(admin_user=admin, timezone=zone, data_volume_label=label, data_volume_fstype=fstype,
                   **{name: package_names(data, name) for name in (
                       "docker_packages", "hardening_packages", "cloud_init_packages", "backup_packages",
                       "tls_packages", "data_volume_packages")})


@dataclass(frozen=True)
class ProcessSettings:
    """Processes beside the web server and the broker they queue through
    (onehost/commands/processes.py): group_data keys processes, process_stop_grace_seconds,
    broker, broker_image and broker_maxmemory."""
    processes: Mapping[str, str]  # name -> command line, run from the release's image
    stop_grace_seconds: int       # SIGTERM, then this long for running tasks, then SIGKILL
    broker: str | None            # "valkey", or None: no broker on the host
    broker_image: str
    broker_maxmemory: str

    @classmethod
    def from_values(cls, data: Mapping) -> "ProcessSettings":
        try:
            processes = process_commands.check_processes(data.get("processes"))
            broker = process_commands.check_broker(data.get("broker"), data.get("broker_maxmemory"))
        except process_commands.ProcessError as error:
            raise DeployError(str(error)) from None
        return cls(processes=MappingProxyType(processes),
                   stop_grace_seconds=whole_number(data, "process_stop_grace_seconds", 60),
                   broker=broker, broker_image=str(data.get("broker_image")),
                   broker_maxmemory=str(data.get("broker_maxmemory")))


@dataclass(frozen=True)
class RunInputs:
    """What one run is given, usually with --data on its command line: the deploy's image and
    app settings, the rollback's release, the SQLite import's file, the restore's backup."""
    image: str | None             # --data image=REF, or image_repository (onehost.toml) and tag
    env_file: str | None
    ssm_path: str | None
    release: str | None           # a rollback's target; None: previous
    sqlite: str | None
    verify_only: bool
    replace_existing: bool
    backup: str                   # a restore's backup name, or "latest"
    replace_live: bool
    image_hygiene: bool           # cleanup.py runs only in an image build
    media: str | None = None      # the SQLite move's media directory (MEDIA_ROOT); None: no files

    @classmethod
    def from_values(cls, data: Mapping) -> "RunInputs":
        inputs = cls(
            image=app_config.image_for(data), env_file=given(data.get("env_file")),
            ssm_path=given(data.get("ssm_path")), release=given(data.get("release")),
            sqlite=given(data.get("sqlite")), media=given(data.get("media")),
            verify_only=is_true(data.get("verify_only")),
            replace_existing=is_true(data.get("replace_existing")),
            backup=given(data.get("backup")) or "latest", replace_live=is_true(data.get("replace_live")),
            image_hygiene=is_true(data.get("image_hygiene")))
        if inputs.backup != "latest" and not BACKUP_NAME.match(inputs.backup):
            raise DeployError(f"backup {inputs.backup!r} is not a backup name (like "
                              "timewarp-20261125T030000Z.dump, see `onehost backups list`) or latest")
        if inputs.verify_only and inputs.replace_existing:
            raise DeployError("verify_only=true changes nothing and replace_existing=true imports: "
                              "give one of them")
        return inputs


@dataclass(frozen=True)
class Settings:
    """One host's settings. `values` is host.data as it was when first read (read-only); the
    sections below are what the deploy files read."""
    host_name: str
    values: Mapping[str, Any]

    @classmethod
    def from_values(cls, values: Mapping[str, Any], host_name: str = "test-host") -> "Settings":
        return cls(host_name, MappingProxyType(dict(values)))

    def check_deploy_inputs(self) -> None:
        """The deploy's own sections, checked in this order before the host is touched: each
        raises DeployError naming the problem and the fix."""
        for section in (lambda: self.tls, lambda: self.backups, lambda: self.registry,
                        lambda: self.deploy, lambda: self.edge, lambda: self.processes):
            section()

    # --- sections ---------------------------------------------------------------------------
    @cached_property
    def layout(self) -> HostLayout:
        data = self.values
        return HostLayout(data_dir=data["data_dir"], network=data["network_name"], app_port=data["app_port"],
                          server_name=data["server_names"][0], tls=tls_mode(data) == "letsencrypt")

    @cached_property
    def deploy(self) -> DeploySettings:
        return DeploySettings.from_values(self.values)

    @cached_property
    def tls(self) -> TlsSettings:
        return TlsSettings.from_values(self.values)

    @cached_property
    def backups(self) -> BackupSettings:
        return BackupSettings.from_values(self.values)

    @cached_property
    def registry(self) -> RegistrySettings:
        return RegistrySettings.from_values(self.values)

    @cached_property
    def edge(self) -> EdgeSettings:
        return EdgeSettings.from_values(self.values)

    @cached_property
    def cloudwatch(self) -> CloudWatchSettings:
        return CloudWatchSettings.from_values(self.values)

    @cached_property
    def bake(self) -> BakeSettings:
        return BakeSettings.from_values(self.values)

    @cached_property
    def processes(self) -> ProcessSettings:
        return ProcessSettings.from_values(self.values)

    @cached_property
    def run(self) -> RunInputs:
        return RunInputs.from_values(self.values)


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
