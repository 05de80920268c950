"""deploy/settings.py: host.data read once, in one place, into checked objects."""

import ast
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api.exceptions import DeployError

from deploy.settings import (
    BakeSettings,
    CloudWatchSettings,
    EdgeSettings,
    RunInputs,
    Settings,
)
from onehost.commands import cloudwatch_config
from onehost.commands.switch import HostLayout

REPO = Path(__file__).resolve().parents[2]
GROUP_DATA = {key: value for key, value in runpy.run_path(str(REPO / "deploy" / "group_data" / "all.py")).items()
              if not key.startswith("__")}


def reads_host_data(tree: ast.AST) -> list[int]:
    """Lines of `host.data` (also `pyinfra.host.data`, `ctx_host.data`...)."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "data"
            and ((isinstance(node.value, ast.Name) and node.value.id.endswith("host"))
                 or (isinstance(node.value, ast.Attribute) and node.value.attr == "host"))]


def test_only_the_settings_module_reads_host_data():
    readers = {}
    for path in sorted((REPO / "deploy").rglob("*.py")):
        if path == REPO / "deploy" / "settings.py":
            continue
        if lines := reads_host_data(ast.parse(path.read_text(), str(path))):
            readers[str(path.relative_to(REPO))] = lines
    assert readers == {}, f"read settings through deploy.settings.settings(), not host.data: {readers}"


def test_the_check_sees_host_data():
    assert reads_host_data(ast.parse("from pyinfra import host\nx = host.data.get('a')\n")) == [2]


# What reads a key by its name instead of through a typed section.
BY_KEY = {"get", "values", "flag", "whole_number", "__getitem__"}


def reads_settings_by_key(tree: ast.AST) -> list[int]:
    """Lines of `settings().get(...)`, `settings()["key"]`, `settings().values`..."""
    def is_settings_call(node):
        return isinstance(node, ast.Call) and getattr(node.func, "id", None) == "settings"
    return sorted(node.lineno for node in ast.walk(tree)
                  if (isinstance(node, ast.Attribute) and node.attr in BY_KEY and is_settings_call(node.value))
                  or (isinstance(node, ast.Subscript) and is_settings_call(node.value)))


def test_no_module_reads_a_setting_by_its_key():
    readers = {}
    for path in sorted((REPO / "deploy").rglob("*.py")):
        if path == REPO / "deploy" / "settings.py":
            continue
        if lines := reads_settings_by_key(ast.parse(path.read_text(), str(path))):
            readers[str(path.relative_to(REPO))] = lines
    assert readers == {}, f"read a typed section of deploy.settings.settings() instead: {readers}"
    # Nothing to read them with: a key is reached through its section.
    assert not {"get", "__getitem__", "flag", "whole_number"} & set(dir(Settings))


def test_the_check_sees_a_read_by_key():
    source = "a = settings().get('image')\nb = settings()['tls']\nc = settings().values\nd = settings().run.image\n"
    assert reads_settings_by_key(ast.parse(source)) == [1, 2, 3]


class Recorded(dict):
    """host.data that remembers which keys were read."""
    def __init__(self, values):
        super().__init__(values)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


# group_data keys no section reads, and why.
READ_ELSEWHERE = {
    "postgres_major": "group_data builds backup_packages and postgres_image from it",
    "app_name": "names the project; the inventory gives db_name and db_user from onehost.toml",
}


def test_every_group_data_key_is_read_by_a_section():
    """So the reference page (scripts/gen_reference.py lists group_data) documents nothing the
    code ignores."""
    values = Recorded({**GROUP_DATA, "letsencrypt_email": "ops@example.com", "server_names": ["api.example.com"],
                       "backup_bucket": "ok-bucket"})
    given = Settings("h", values)
    given.check_deploy_inputs()
    for section in ("layout", "cloudwatch", "bake", "run"):
        getattr(given, section)
    keys = {key for key in GROUP_DATA if not key.startswith("_")}   # _shared: a module group_data imports
    assert keys - values.read == set(READ_ELSEWHERE)


@pytest.mark.parametrize("tls", ["letsencrypt", "off", False])
def test_the_layout_and_the_tls_section_agree_on_tls(tls):
    given = Settings.from_values({**GROUP_DATA, "tls": tls, "letsencrypt_email": "ops@example.com",
                                  "server_names": ["api.example.com"]})
    assert given.layout.tls == given.tls.plan.enabled == (tls == "letsencrypt")


def test_the_defaults_make_the_layout_and_the_deploy_settings():
    given = Settings.from_values(GROUP_DATA)
    assert given.layout == HostLayout(data_dir="/data", network="onehost", app_port=8000,
                                      server_name="localhost", tls=True)
    assert given.deploy.db_name == "timewarp" and given.deploy.keep_releases == 5
    assert given.deploy.server_names == ("localhost", "127.0.0.1")
    assert not given.deploy.pull and not given.deploy.break_lock and not given.deploy.sudo


def test_a_bake_is_not_refused_for_the_deploys_tls_inputs():
    """The defaults (localhost with tls=letsencrypt) are no deploy's: only a deploy asks for TLS."""
    given = Settings.from_values(GROUP_DATA)
    assert given.layout.data_dir == "/data"
    with pytest.raises(DeployError, match="server name .localhost. cannot get a certificate"):
        given.check_deploy_inputs()


def test_the_settings_are_read_once():
    values = {**GROUP_DATA}
    given = Settings.from_values(values)
    values["data_dir"] = "/elsewhere"
    assert given.layout.data_dir == "/data"
    with pytest.raises(TypeError):
        given.values["data_dir"] = "/elsewhere"


@pytest.mark.parametrize(("data", "message"), [
    ({"acme_ca_bundle": "/no/such/ca.pem"}, "acme_ca_bundle /no/such/ca.pem does not exist"),
    ({"tls": "yes"}, "tls"),
    ({"backups": "no"}, "backups is 'no': give backups=off"),
    ({"registry_password": "hunter2"}, "registry_password is not taken as data"),
])
def test_bad_deploy_inputs_stop_the_deploy_with_the_fix(data, message):
    given = Settings.from_values({**GROUP_DATA, "tls": "letsencrypt", "letsencrypt_email": "ops@example.com",
                                  "server_names": ["api.example.com"], **data})
    with pytest.raises(DeployError, match=message):
        given.check_deploy_inputs()


def test_good_deploy_inputs_pass():
    given = Settings.from_values({**GROUP_DATA, "letsencrypt_email": "ops@example.com",
                                  "server_names": ["api.example.com"], "backup_bucket": "ok-bucket"})
    given.check_deploy_inputs()
    assert given.tls.plan.names == ("api.example.com",) and given.tls.acme_ca_bundle is None
    assert given.backups.bucket == "ok-bucket" and given.backups.keep_local == 2


def test_a_whole_number_setting_names_the_fix():
    with pytest.raises(DeployError, match=r"drain_seconds is 'soon': give a whole number.*--data drain_seconds=30"):
        _ = Settings.from_values({**GROUP_DATA, "drain_seconds": "soon"}).deploy


def test_the_defaults_make_every_section():
    given = Settings.from_values(GROUP_DATA)
    deploy = given.deploy
    assert (deploy.health_timeout_seconds, deploy.drain_seconds, deploy.lock_ttl_seconds) == (120, 30, 900)
    edge = given.edge
    assert edge.server_names == ("localhost", "127.0.0.1") and edge.api_rate_limit == "20r/s"
    assert edge.api_rate_limit_burst == 40 and edge.hsts_preload is False and edge.cloudflare is False
    assert given.bake == BakeSettings(
        admin_user="admin", timezone="Etc/UTC", data_volume_label="onehost-data", data_volume_fstype="ext4",
        docker_packages=("docker.io", "docker-cli", "docker-compose", "amazon-ecr-credential-helper"),
        hardening_packages=("unattended-upgrades", "systemd-timesyncd", "tzdata", "rsyslog", "logrotate"),
        cloud_init_packages=("cloud-init",), backup_packages=("postgresql-client-17", "python3-boto3"),
        tls_packages=("certbot", "openssl"), data_volume_packages=("e2fsprogs",))
    assert given.run == RunInputs(image=None, env_file=None, ssm_path=None, release=None, sqlite=None,
                                  verify_only=False, replace_existing=False, backup="latest",
                                  replace_live=False, image_hygiene=True)
    assert given.cloudwatch.namespace == "onehost" and given.cloudwatch.request_sample == 16


def test_the_edge_section_is_what_the_nginx_templates_read():
    given = EdgeSettings.from_values(GROUP_DATA).template_values()
    assert given == {key: tuple(GROUP_DATA[key]) if key == "server_names" else GROUP_DATA[key]
                     for key in EdgeSettings.keys()}


def test_the_cloudwatch_section_renders_what_the_bake_ships():
    """The agent's file is the one render_from makes of group_data (packer/image_suite checks that one)."""
    assert CloudWatchSettings.from_values(GROUP_DATA).agent_config() == cloudwatch_config.render_from(GROUP_DATA)


@pytest.mark.parametrize(("data", "wanted"), [
    ({"bake_target": "local"}, False),
    ({"bake_target": "aws"}, True),
    ({"bake_target": "local", "cloudwatch_agent_package": True}, True),
])
def test_cloudwatch_package_on_aws_targets_only(data, wanted):
    assert CloudWatchSettings.from_values({**GROUP_DATA, **data}).agent_package is wanted


@pytest.mark.parametrize(("data", "expected"), [
    ({"image": "other:v9", "tag": "v1", "image_repository": "shop"}, "other:v9"),
    ({"tag": "v1", "image_repository": "shop"}, "shop:v1"),
    ({"tag": "v1"}, None),
])
def test_the_run_image_is_given_or_made_from_the_repository_and_tag(data, expected):
    assert RunInputs.from_values(data).image == expected


@pytest.mark.parametrize(("section", "data", "message"), [
    ("edge", {"client_max_body_size": "10m; return 200"}, r"client_max_body_size is '10m; return 200': give one "
                                                           r"nginx value .*--data client_max_body_size=10m"),
    ("edge", {"api_rate_limit_burst": "lots"}, r"api_rate_limit_burst is 'lots': give a whole number, "
                                               r"e.g. --data api_rate_limit_burst=40"),
    ("edge", {"server_names": "api.example.com"}, "server_names is 'api.example.com': give a list of names"),
    ("cloudwatch", {"cloudwatch_request_sample": 10}, "cloudwatch_request_sample=10: use 0 .* or a power of 16"),
    ("cloudwatch", {"cloudwatch_container_logs": "some"}, "cloudwatch_container_logs='some': use one of errors, all"),
    ("cloudwatch", {"cloudwatch_log_files": {"syslog": "/var/log/syslog"}},
     "log filters for containers, which cloudwatch_log_files does not collect"),
    ("cloudwatch", {"bake_target": "AWS"}, "bake_target is 'AWS': give one of local, aws"),
    ("bake", {"docker_packages": [""]}, r"docker_packages is \[''\]: give a list of Debian package names"),
    ("bake", {"admin_user": "Admin User"}, "admin_user is 'Admin User': give a login name"),
    ("bake", {"timezone": "../etc/passwd"}, "timezone is '../etc/passwd': give a zone of /usr/share/zoneinfo"),
    ("bake", {"data_volume_label": "a-label-longer-than-16"}, "data_volume_label .* at most 16"),
    ("run", {"backup": "yesterday"}, "backup 'yesterday' is not a backup name"),
    ("run", {"verify_only": True, "replace_existing": True}, "verify_only=true changes nothing and "
                                                             "replace_existing=true imports: give one of them"),
])
def test_a_bad_value_is_refused_by_its_section_with_the_fix(section, data, message):
    with pytest.raises(DeployError, match=message):
        getattr(Settings.from_values({**GROUP_DATA, **data}), section)


def test_a_bake_reads_no_deploy_section():
    """Each section is checked when it is read: a deploy-only value does not stop a bake."""
    given = Settings.from_values({**GROUP_DATA, "drain_seconds": "soon", "client_max_body_size": "1 0m",
                                  "backup": "yesterday"})
    assert given.bake.admin_user == "admin" and given.cloudwatch.log_group == "/onehost/host"


def test_the_backup_settings_file_names_the_cloudwatch_namespace():
    from deploy.tasks.backups import backup_settings

    given = Settings.from_values({**GROUP_DATA, "backup_bucket": "ok-bucket", "cloudwatch_namespace": "shop"})
    assert backup_settings(given, "i-0abc") == {
        "bucket": "ok-bucket", "prefix": "backups/", "region": "eu-west-1", "database": "timewarp",
        "db_user": "timewarp", "host": "i-0abc", "backup_dir": "/data/backups", "releases_dir": "/data/releases",
        "keep_local": 2, "namespace": "shop"}


PROBE = """
import os
from deploy.settings import dry_run_requested
open(os.environ["PROBE_OUT"], "w").write(str(dry_run_requested()))
"""
INVENTORY = """
from deploy.settings import record_dry_run
hosts = ["@local"]
record_dry_run()
"""


@pytest.mark.parametrize("dry", [True, False])
def test_dry_run_is_what_pyinfra_parsed(tmp_path, dry):
    """pyinfra run in-process (its command line is not sys.argv): --dry reaches the deploy file
    through the inventory, as deploy/inventory.py records it."""
    (tmp_path / "inventory.py").write_text(INVENTORY)
    (tmp_path / "probe.py").write_text(PROBE)
    arguments = ["-y", str(tmp_path / "inventory.py"), str(tmp_path / "probe.py")] + (["--dry"] if dry else [])
    run_pyinfra = f"from pyinfra_cli.cli import cli; cli.main(args={arguments!r}, prog_name='pyinfra')"
    result = subprocess.run([sys.executable, "-c", run_pyinfra], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PROBE_OUT": str(tmp_path / "out"), "PYTHONPATH": str(REPO)},
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out").read_text() == str(dry)


def test_the_deploy_inventory_records_dry_run():
    calls = [node.func.id for node in ast.walk(ast.parse((REPO / "deploy" / "inventory.py").read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    assert "record_dry_run" in calls


def test_the_bake_the_swap_and_the_local_images_agree_on_the_shared_values():
    from deploy.tasks.boot_stacks import fstab_line
    from onehost.commands import data_volume
    from onehost.local import base_images

    label, mount_point, fstype = fstab_line(GROUP_DATA["data_volume_label"], GROUP_DATA["data_dir"],
                                            GROUP_DATA["data_volume_fstype"]).split()[:3]
    script = data_volume.mount_data_script("vol-0abc")
    assert f"mkfs -t {fstype} -q -L {label.removeprefix('LABEL=')} " in script
    assert script.startswith(f"mountpoint -q {mount_point} ")
    major = GROUP_DATA["postgres_major"]
    assert GROUP_DATA["postgres_image"].startswith(f"postgres:{major}-")
    assert f"postgresql-client-{major}" in GROUP_DATA["backup_packages"]
    assert base_images.PG_MAJOR == major
