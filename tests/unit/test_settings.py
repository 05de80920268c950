"""deploy/settings.py: host.data read once, in one place, into checked objects."""

import ast
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api.exceptions import DeployError

from deploy.settings import Settings
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
        Settings.from_values({**GROUP_DATA, "drain_seconds": "soon"}).whole_number("drain_seconds")


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
    from onehost.aws import hosts
    from onehost.local import base_images

    label, mount_point, fstype = fstab_line(GROUP_DATA["data_volume_label"], GROUP_DATA["data_dir"],
                                            GROUP_DATA["data_volume_fstype"]).split()[:3]
    script = hosts.mount_data_script("vol-0abc")
    assert f"mkfs -t {fstype} -q -L {label.removeprefix('LABEL=')} " in script
    assert script.startswith(f"mountpoint -q {mount_point} ")
    major = GROUP_DATA["postgres_major"]
    assert GROUP_DATA["postgres_image"].startswith(f"postgres:{major}-")
    assert f"postgresql-client-{major}" in GROUP_DATA["backup_packages"]
    assert base_images.PG_MAJOR == major
