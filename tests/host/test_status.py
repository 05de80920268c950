"""`onehost status` by behaviour on the test instance, run as a user runs it (the console script
with the instance's environment).

A healthy host exits 0 with every field filled; each scenario then breaks one thing the way it
breaks on a real host (PostgreSQL stopped, a certificate close to its end, a backup that stopped
running, a failed unit, no release), checks that status exits 1 naming the cause, and puts the
host back, so the module passes alone and in any order.
"""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from onehost.local.instance import wait_until
from onehost.paths import REPO_ROOT
from tests.host.acme import CONFIG, DIRECTORY_URL, AcmeServer
from tests.host.conftest import APP_IMAGE
from tests.moto_server import FAKE_CREDENTIALS, moto_server, reverse_tunnel, write_credentials_file

POSTGRES = "data-postgres-1"
BACKUP_DIR = "/data/backups"
RECORDS = (f"{BACKUP_DIR}/last-run.json", f"{BACKUP_DIR}/last-drill.json")
BUCKET = "timewarp-status-backups"
DOMAIN = "timewarp.test"
LETSENCRYPT = "/data/letsencrypt"
EDGE_CONF = "/data/stacks/edge/conf.d"


def status(environ: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onehost.cli", "status", *args], cwd=REPO_ROOT, env=environ,
                          capture_output=True, text=True, timeout=180)


def status_json(environ: dict) -> tuple[int, dict]:
    result = status(environ, "--json")
    assert result.stdout, result.stderr
    [report] = json.loads(result.stdout)["hosts"]
    return result.returncode, report


def attention_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line.strip().removeprefix("attention: ") for line in result.stdout.splitlines()
            if line.strip().startswith("attention: ")]


def wait_healthy(instance, container: str) -> None:
    wait_until(lambda: instance.inner("docker", "inspect", "--format", "{{.State.Health.Status}}", container,
                                      check=False).stdout.strip() == "healthy", f"{container} healthy", 90)


def test_a_healthy_host_exits_0_with_every_field_filled(deployed, test_instance, instance_environ):
    instance = test_instance
    code, report = status_json(instance_environ)
    assert (code, report["attention"]) == (0, []), report
    release_id = instance.readlink("/data/releases/current").rsplit("/", 1)[1]
    recorded = json.loads(instance.inner("cat", "/data/releases/current/release.json").stdout)
    assert report["host"] == instance.config.name and report["reachable"] is True
    assert report["release"]["id"] == release_id
    assert (report["release"]["image"], report["release"]["git_commit"]) == (recorded["image"], recorded["git_commit"])
    serving = report["serving"]
    live = instance.live_container()
    assert serving["container"] == live and serving["colour"] in live
    assert (serving["state"], serving["health"]) == ("running", "healthy")
    started = instance.inner("docker", "inspect", "--format", "{{.State.StartedAt}}", live).stdout.strip()
    assert serving["started_at"] == started[:19] + "Z"
    assert serving["image"] == instance.inner("docker", "inspect", "--format", "{{.Config.Image}}", live).stdout.strip()
    health = report["health"]
    assert (health["status"], health["ok"], health["url"]) == (200, True, "http://127.0.0.1/health/")
    assert json.loads(health["body"])["status"] == "ok"
    assert (report["tls"], report["certificate"]) == (False, None)   # the local instance serves plain HTTP
    assert report["backups"]["configured"] is False
    assert set(report["disk"]) == {"/", "/data"}
    for disk in report["disk"].values():
        assert disk["size_bytes"] > disk["available_bytes"] > 0 and 0 <= disk["used_percent"] <= 100
    assert report["memory"]["total_bytes"] > report["memory"]["available_bytes"] > 0
    assert {label: (service["state"], service["health"]) for label, service in report["services"].items()} == {
        "nginx": ("running", "healthy"), "PostgreSQL": ("running", "healthy")}
    assert report["failed_units"] == [] and report["lock"] is None
    checked = datetime.fromisoformat(report["checked_at"].replace("Z", "+00:00"))
    assert abs(checked - datetime.now(UTC)) < timedelta(minutes=5)

    table = status(instance_environ)
    assert table.returncode == 0, table.stdout + table.stderr
    assert table.stdout.splitlines()[0] == instance.config.name
    for row in ("release", "serving", "image", "health", "certificate", "backup", "drill", "disk", "memory",
                "services", "failed units", "deploy lock"):
        assert f"  {row} " in table.stdout, row
    assert f"  release       {release_id} " in table.stdout
    assert "backups off" in table.stdout and table.stdout.rstrip().endswith("all well")


def test_postgresql_stopped_names_the_cause(deployed, test_instance, instance_environ):
    instance = test_instance
    instance.inner("docker", "stop", POSTGRES)
    try:
        result = status(instance_environ)
        assert result.returncode == 1, result.stdout + result.stderr
        causes = attention_lines(result)
        assert f"PostgreSQL ({POSTGRES}) is exited" in causes, causes
        [health] = [cause for cause in causes if cause.startswith("health failing:")]
        assert "answered 503" in health and '"database": "unreachable"' in health
    finally:
        instance.inner("docker", "start", POSTGRES)
        wait_healthy(instance, POSTGRES)
        instance.wait_for_health(timeout=60)
    assert status(instance_environ).returncode == 0


def test_a_failed_unit_is_named(deployed, test_instance, instance_environ):
    instance = test_instance
    unit = "onehost-test-fail.service"
    instance.inner("systemd-run", "--unit", unit, "false")
    try:
        wait_until(lambda: instance.inner("systemctl", "is-failed", unit, check=False).stdout.strip() == "failed",
                   f"{unit} failed", 20)
        result = status(instance_environ)
        assert result.returncode == 1
        assert attention_lines(result) == [
            f"failed systemd unit: {unit} (systemctl status UNIT on the host; systemctl reset-failed UNIT "
            "clears it once fixed)"]
    finally:
        instance.inner("systemctl", "reset-failed", unit, check=False)
    assert status(instance_environ).returncode == 0


def test_a_host_with_no_release_yet_says_to_deploy_first_and_reports_the_rest(deployed, test_instance,
                                                                               instance_environ):
    instance = test_instance
    aside = "/data/releases/current.status-test"
    instance.inner("mv", "-T", "/data/releases/current", aside)
    try:
        result = status(instance_environ)
        assert result.returncode == 1
        assert attention_lines(result) == ["no release yet: deploy one first "
                                           "(pyinfra deploy/inventory.py deploy/deploy.py --data image=...)"]
        assert "  release       no release yet: deploy one first" in result.stdout
        code, report = status_json(instance_environ)
        assert report["release"] is None and report["health"]["status"] == 200 and report["memory"]
    finally:
        instance.inner("mv", "-T", aside, "/data/releases/current")
    assert status(instance_environ).returncode == 0


def test_an_unknown_host_is_one_clear_error(test_instance, instance_environ):
    result = status(instance_environ, "--host", "no-such-host")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (f"error: no host named 'no-such-host' in the inventory (its hosts: "
                                     f"{test_instance.config.name}); give one of those to --host, or leave --host out")


def test_an_unreachable_host_is_one_line_naming_it(instance_environ):
    result = status({**instance_environ, "ONEHOST_HOSTS": "admin@127.0.0.1:1"})
    assert result.returncode == 1
    assert result.stdout.strip() == ("127.0.0.1: unreachable: ssh: connect to host 127.0.0.1 port 1: "
                                     "Connection refused")


# --- the certificate: a real ACME server issuing 5-day certificates ----------------------------

@pytest.fixture
def short_lived_certificate(deployed, test_instance, deployer, tmp_path):
    """The instance deployed with TLS for DOMAIN, its certificate issued by pebble (tests/host/acme.py)
    for 5 days instead of 90; afterwards plain HTTP again and no trace of it in /data/letsencrypt
    (the renewal timer would otherwise keep asking a gone ACME server), nor in nginx's conf.d."""
    instance = test_instance
    before = {directory: set(instance.inner("ls", "-A", directory).stdout.split())
              for directory in (LETSENCRYPT, EDGE_CONF)}
    acme = AcmeServer(instance.config.name, tmp_path / "acme")
    # pebble's certificateValidityPeriod, in seconds (https://github.com/letsencrypt/pebble, pebble-config.json).
    (acme.workdir / "pebble.json").write_text(json.dumps(
        {"pebble": {**CONFIG["pebble"], "certificateValidityPeriod": 5 * 86400}}))
    acme.start()
    try:
        deployer.run({"image": APP_IMAGE, "tls": "letsencrypt", "server_names": json.dumps([DOMAIN]),
                      "letsencrypt_email": f"ops@{DOMAIN}", "acme_server": DIRECTORY_URL,
                      "acme_ca_bundle": str(acme.ca_bundle)})
        yield acme
    finally:
        acme.stop()
        deployer.run({"image": APP_IMAGE})
        for directory, names in before.items():   # certbot's state, tls-certificate.inc
            added = set(instance.inner("ls", "-A", directory).stdout.split()) - names
            if added:
                instance.inner("rm", "-rf", *(f"{directory}/{name}" for name in added))
        instance.inner("rm", "-rf", f"{LETSENCRYPT}/live/{DOMAIN}", f"{LETSENCRYPT}/archive/{DOMAIN}",
                       f"{LETSENCRYPT}/renewal/{DOMAIN}.conf")
        instance.wait_for_health(timeout=60)


def test_a_certificate_with_under_14_days_left_needs_attention(short_lived_certificate, instance_environ):
    code, report = status_json(instance_environ)
    assert code == 1
    certificate = report["certificate"]
    assert report["tls"] is True and certificate["names"] == [DOMAIN] and certificate["from"] == "served"
    assert "Pebble" in certificate["issuer"] and 4 < certificate["days_left"] <= 5
    # /health/ went through nginx over HTTPS with the name's SNI.
    assert (report["health"]["url"], report["health"]["status"]) == (f"https://{DOMAIN}/health/", 200)
    [cause] = report["attention"]
    assert cause.startswith(f"certificate for {DOMAIN} expires in {certificate['days_left']:g} days")
    assert "under 14" in cause
    # A lower threshold: the same certificate is fine.
    assert status(instance_environ, "--certificate-days", "3").returncode == 0


# --- backups: configured against moto's S3, as tests/host/test_backups.py does ------------------

@pytest.fixture
def backups_on(deployed, test_instance, deployer, tmp_path):
    """Backups configured by a deploy (moto's S3 through a reverse tunnel), no run recorded yet;
    afterwards backups off again with the records this test made removed."""
    instance = test_instance
    credentials = write_credentials_file(tmp_path / "credentials")
    with moto_server() as endpoint:
        port = endpoint.rsplit(":", 1)[1]
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                     region_name="eu-west-1").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        tunnel = reverse_tunnel(str(instance.config.ssh_config), instance.config.name, port)
        try:
            wait_until(lambda: instance.inner("curl", "--silent", "--fail", f"{endpoint}/moto-api/",
                                              check=False).returncode == 0, "moto through the tunnel", 20)
            deployer.run({"image": APP_IMAGE, "backup_bucket": BUCKET, "aws_endpoint_url": endpoint,
                          "backup_aws_credentials": str(credentials)})
            instance.inner("rm", "-f", *RECORDS)
            yield instance
        finally:
            tunnel.terminate()
            tunnel.wait(timeout=10)
            deployer.run({"image": APP_IMAGE, "backups": "off"})
            instance.inner("rm", "-f", *RECORDS)


def test_a_last_backup_older_than_26_hours_needs_attention(backups_on, instance_environ):
    instance = backups_on
    made = instance.inner("/usr/local/sbin/onehost-backup", "run", check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    drill = instance.inner("/usr/local/sbin/onehost-backup", "drill", check=False)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    code, report = status_json(instance_environ)
    assert (code, report["attention"]) == (0, [])
    backups = report["backups"]
    dump = json.loads(instance.inner("cat", RECORDS[0]).stdout)["backup"]
    size = int(instance.inner("stat", "--format", "%s", f"{BACKUP_DIR}/{dump}").stdout)
    assert (backups["configured"], backups["bucket"]) == (True, BUCKET)
    assert backups["last"]["backup"] == dump and backups["last"]["size"] == size
    assert backups["last"]["in_s3"] is True and backups["last"]["age_hours"] < 1
    assert (backups["drill"]["passed"], backups["drill"]["backup"]) == (True, dump)

    # The record backdated 30 hours: the nightly backup has stopped since.
    old = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = json.loads(instance.inner("cat", RECORDS[0]).stdout)
    record["finished_at"] = record["last_uploaded"]["finished_at"] = old
    subprocess.run(["docker", "exec", "-i", instance.config.name, "sh", "-c", f"cat > {RECORDS[0]}"],
                   input=json.dumps(record), text=True, check=True)
    result = status(instance_environ)
    assert result.returncode == 1
    assert attention_lines(result) == [
        f"last backup is 1 d 6 h old ({dump}), over 26 h (journalctl -u onehost-backup.service on the host)"]
    # --backup-hours moves the line.
    assert status(instance_environ, "--backup-hours", "31").returncode == 0
