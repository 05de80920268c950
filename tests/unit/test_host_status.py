"""`onehost status`'s pure parts: the probe script (run here against a directory tree), its parser on
outputs recorded on the test instance, each rule, the table, the exit code, and the host side's
handling of hosts that do not answer."""

import json
import subprocess
from copy import deepcopy
from datetime import UTC, datetime

import pytest

from onehost.cli import main
from onehost.commands import compose_commands
from onehost.commands import host_status as status
from onehost.commands.live import layout_at
from onehost.commands.switch import upstream_line
from onehost.local.shell import CommandFailed
from onehost.remote import host_status as remote
from onehost.remote.session import HostSession

pytestmark = pytest.mark.unit

LAYOUT = layout_at("/data")
NOW = 1796563233   # 2026-12-06T13:20:33Z, the host's clock in the recordings

# Recorded on the test instance (a deployed local instance, plain HTTP, backups off).
HEALTHY = """\
== now
1796563233
== release
test-v1-66d5bb31e3
{  "id": "test-v1-66d5bb31e3",  "image": "timewarp-onehost-h3:test-v1",  "image_id": "sha256:a545e502aadc",  \
"git_commit": "f47c5d212a7bb2549668241de379fb320da1f989",  "deployed_by": "root@vm",  \
"created_at": "2026-12-06T13:17:37+00:00"}
== colour
blue
== containers
edge-nginx-1|running|healthy|2026-12-06T13:18:27.033293877Z|onehost-base/nginx:id-212fc41fb853
data-postgres-1|running|healthy|2026-12-06T13:18:53.08575375Z|onehost-base/postgres:id-25feefa1a54b
app-blue-app-1|running|healthy|2026-12-06T13:19:51.27169208Z|timewarp-onehost-h3:id-a545e502aadc
== edge
localhost no
== health
{"status": "ok", "database": "ok", "version": "test-v1"}
ONEHOST_HTTP_CODE 200
== certificate
== backup-config

== backup-run

== drill

== dumps
888 pre-migrate-test-v1-66d5bb31e3-20261206T131840Z.dump
26254 timewarp-20261206T132006Z.dump
== disk
Filesystem     1024-blocks     Used Available Capacity Mounted on
overlay          264212084 54165752  52225160      51% /
/dev/vda         264212084 54165752  52225160      51% /data
== memory
MemTotal:       24683784 kB
MemAvailable:   22505316 kB
SwapTotal:             0 kB
SwapFree:              0 kB
== failed-units
== lock

"""

# The same host with TLS, backups on and run, a drill, and the sections as OpenSSL 3.5 and the
# backup tool print them.
RUN_RECORD = {"finished_at": "2026-12-06T03:04:05Z", "ok": True, "backup": "timewarp-20261206T030400Z.dump",
              "size": 26254, "uploaded": True, "key": "backups/timewarp-20261206T030400Z.dump", "error": None,
              "last_uploaded": {"finished_at": "2026-12-06T03:04:05Z", "backup": "timewarp-20261206T030400Z.dump",
                                "size": 26254, "key": "backups/timewarp-20261206T030400Z.dump"}}
DRILL_RECORD = {"finished_at": "2026-12-01T05:10:00Z", "passed": True,
                "backup": "timewarp-20261201T030000Z.dump", "error": None}


def with_sections(text: str, **replaced: str) -> str:
    """`text` with some sections' bodies replaced (keys with - written as _)."""
    found = status.sections(text)
    for key, body in replaced.items():
        found[key.replace("_", "-")] = body.splitlines()
    return "".join(f"{status.SECTION}{name}\n" + "".join(f"{line}\n" for line in lines)
                   for name, lines in found.items())


TLS_ON = with_sections(
    HEALTHY,
    edge="api.example.com yes",
    certificate=("from served\nsubject=CN=api.example.com\nissuer=C=US, O=Let's Encrypt, CN=E6\n"
                 "notAfter=Feb  4 13:20:33 2027 GMT\nX509v3 Subject Alternative Name: \n"
                 "    DNS:www.example.com, DNS:api.example.com"),
    backup_config=json.dumps({"bucket": "timewarp-backups", "database": "timewarp"}),
    backup_run=json.dumps(RUN_RECORD),
    drill=json.dumps(DRILL_RECORD),
)


def report_of(text: str = HEALTHY, host: str = "web-1") -> dict:
    return status.parse_probe(host, text, LAYOUT)


# --- the script ---------------------------------------------------------------------------------

def test_the_health_request_is_the_deploys_edge_check_once_without_fail_with_the_hosts_own_name(tmp_path):
    """Run with `curl` standing in as a shell function that prints its arguments: the words sh
    passes are the deploy's edge_health_check for the name app.conf holds, asked once, with no
    --fail (so a 503's body shows) and the status code written after the body."""
    for tls_on in (False, True):
        fake = f'curl() {{ printf "%s\\n" "$@"; }}; server_name="api.example.com"; {status.health_request(tls_on)}'
        words = subprocess.run(["sh", "-c", fake], capture_output=True, text=True, check=True).stdout.splitlines()
        expected = [word for word in compose_commands.edge_health_check("api.example.com", tls_on, attempts=0)
                    if word != "--fail"]
        assert words == expected[1:] + ["--write-out", "\\nONEHOST_HTTP_CODE %{http_code}\\n"]
        assert "--retry" in words and words[words.index("--retry") + 1] == "0"


def test_the_probe_reads_a_hosts_tree_and_always_finishes(tmp_path):
    """The script on a directory laid out like /data: the sections it can answer without Docker,
    nginx or systemd, from files alone (the rest report what is missing, and the script goes on)."""
    release = tmp_path / "releases" / "test-v2-0123456789"
    release.mkdir(parents=True)
    (release / "release.env").write_text("APP_IMAGE=timewarp@sha256:1\n")
    (release / "release.json").write_text(json.dumps({"id": release.name, "image": "timewarp:test-v2",
                                                      "git_commit": "abc123", "deployed_by": "ann"}, indent=2))
    (tmp_path / "releases" / "current").symlink_to(release)
    conf = tmp_path / "stacks" / "edge" / "conf.d"
    conf.mkdir(parents=True)
    (conf / "upstream.inc").write_text(upstream_line("app-green-app-1", 8000))
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "config.json").write_text(json.dumps({"bucket": "b", "database": "timewarp"}, indent=2))
    (backups / "last-run.json").write_text(json.dumps(RUN_RECORD) + "\n")
    (backups / "timewarp-20261206T030400Z.dump").write_bytes(b"x" * 26254)
    (backups / "pre-migrate-test-v2-20261207T000000Z.dump").write_bytes(b"x")
    (tmp_path / "deploy.lock").mkdir()
    (tmp_path / "deploy.lock" / "owner.json").write_text(json.dumps({"who": "ann", "from": "laptop", "pid": 7}))
    layout = layout_at(str(tmp_path))
    result = subprocess.run(["sh", "-c", status.probe_script(layout)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    report = status.parse_probe("web-1", result.stdout, layout)
    assert report["release"] == {"id": release.name, "image": "timewarp:test-v2", "git_commit": "abc123",
                                 "deployed_by": "ann", "created_at": None}
    assert report["serving"]["colour"] == "green" and report["serving"]["container"] == "app-green-app-1"
    assert report["server_name"] is None and report["tls"] is False   # no app.conf: no site, no request
    assert report["health"]["ok"] is False and "not deployed" in report["health"]["body"]
    assert report["backups"]["configured"] is True and report["backups"]["last"]["in_s3"] is True
    assert report["lock"]["owner"]["who"] == "ann" and report["lock"]["stale"] is False
    assert set(report["disk"]) == {"/", str(tmp_path)} and report["memory"]["total_bytes"] > 0
    assert abs(datetime.fromisoformat(report["checked_at"].replace("Z", "+00:00")) - datetime.now(UTC)).seconds < 60


# --- the parser on recorded outputs ----------------------------------------------------------------

def test_a_healthy_recording_reads_into_every_field():
    report = report_of()
    assert report["checked_at"] == "2026-12-06T13:20:33Z"
    assert report["release"] == {"id": "test-v1-66d5bb31e3", "image": "timewarp-onehost-h3:test-v1",
                                 "git_commit": "f47c5d212a7bb2549668241de379fb320da1f989",
                                 "deployed_by": "root@vm", "created_at": "2026-12-06T13:17:37+00:00"}
    assert report["serving"] == {"colour": "blue", "container": "app-blue-app-1", "state": "running",
                                 "health": "healthy", "started_at": "2026-12-06T13:19:51Z",
                                 "image": "timewarp-onehost-h3:id-a545e502aadc", "error": None}
    assert report["health"] == {"url": "http://127.0.0.1/health/", "status": 200, "ok": True,
                                "body": '{"status": "ok", "database": "ok", "version": "test-v1"}'}
    assert (report["server_name"], report["tls"], report["certificate"]) == ("localhost", False, None)
    assert report["backups"] == {"configured": False, "bucket": None, "drill": None, "last_run": None,
                                 "last": {"backup": "timewarp-20261206T132006Z.dump", "size": 26254,
                                          "finished_at": "2026-12-06T13:20:06Z", "in_s3": None, "age_hours": 0.0}}
    assert report["disk"]["/data"] == {"size_bytes": 264212084 * 1024, "used_bytes": 54165752 * 1024,
                                       "available_bytes": 52225160 * 1024, "used_percent": 51, "mounted_on": "/data"}
    assert report["memory"] == {"total_bytes": 24683784 * 1024, "available_bytes": 22505316 * 1024,
                                "used_percent": 9, "swap_total_bytes": 0, "swap_used_bytes": 0}
    assert {label: service["state"] for label, service in report["services"].items()} == {
        "nginx": "running", "PostgreSQL": "running"}
    assert (report["failed_units"], report["lock"]) == ([], None)
    assert status.attention(report) == []


def test_a_tls_recording_reads_the_served_certificate_and_the_backup_records():
    report = report_of(TLS_ON)
    assert report["tls"] is True and report["server_name"] == "api.example.com"
    assert report["health"]["url"] == "https://api.example.com/health/"
    assert report["certificate"] == {"names": ["api.example.com", "www.example.com"], "subject": "CN=api.example.com",
                                     "issuer": "C=US, O=Let's Encrypt, CN=E6", "not_after": "2027-02-04T13:20:33Z",
                                     "days_left": 60.0, "from": "served"}
    backups = report["backups"]
    assert backups["last"] == {"backup": "timewarp-20261206T030400Z.dump", "size": 26254,
                               "finished_at": "2026-12-06T03:04:05Z", "in_s3": True, "age_hours": 10.3}
    assert backups["last_run"]["ok"] is True
    assert backups["drill"] == {"finished_at": "2026-12-01T05:10:00Z", "passed": True, "age_days": 5.3,
                                "backup": "timewarp-20261201T030000Z.dump", "error": None}
    assert status.attention(report) == []


def test_a_stopped_postgresql_reads_as_exited_with_a_503():
    report = report_of(with_sections(
        HEALTHY,
        containers=("edge-nginx-1|running|healthy|2026-12-06T13:18:27.03Z|onehost-base/nginx:id-1\n"
                    "data-postgres-1|exited|unhealthy|2026-12-06T13:18:53.08Z|onehost-base/postgres:id-2\n"
                    "app-blue-app-1|running|unhealthy|2026-12-06T13:19:51.27Z|timewarp:id-3"),
        health=('{"status": "error", "database": "unreachable", "version": "test-v1"}\n'
                "ONEHOST_HTTP_CODE 503")))
    assert status.attention(report) == [
        'health failing: http://127.0.0.1/health/ through nginx answered 503: {"status": "error", '
        '"database": "unreachable", "version": "test-v1"}',
        "PostgreSQL (data-postgres-1) is exited"]


def test_docker_errors_are_told_apart_from_missing_containers():
    report = report_of(with_sections(HEALTHY, containers=(
        "edge-nginx-1|error|Error: No such object: edge-nginx-1\n"
        "data-postgres-1|error|Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")))
    assert status.attention(report) == [
        "nginx (edge-nginx-1) is not there",
        "PostgreSQL (data-postgres-1) is unknown: Cannot connect to the Docker daemon at unix:///var/run/docker.sock."]


def test_nginx_not_answering_at_all():
    report = report_of(with_sections(HEALTHY, health=(
        "curl: (7) Failed to connect to 127.0.0.1 port 80 after 0 ms: Couldn't connect to server\n\n"
        "ONEHOST_HTTP_CODE 000")))
    assert report["health"]["status"] is None
    assert status.attention(report) == [
        "health failing: http://127.0.0.1/health/ through nginx got no answer: curl: (7) Failed to connect to "
        "127.0.0.1 port 80 after 0 ms: Couldn't connect to server"]


def test_a_certificate_read_from_its_file_when_nginx_serves_none():
    report = report_of(with_sections(TLS_ON, certificate=status.sections(TLS_ON)["certificate"][0].replace(
        "served", "file") + "\n" + "\n".join(status.sections(TLS_ON)["certificate"][1:])))
    assert report["certificate"]["from"] == "file"


# --- the rules ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "cause"), [
    (lambda r: r.update(release=None),
     "no release yet: deploy one first (pyinfra deploy/inventory.py deploy/deploy.py --data image=...)"),
    (lambda r: r["certificate"].update(days_left=13.9, not_after="2026-12-20T11:00:00Z"),
     "certificate for api.example.com, www.example.com expires in 13.9 days (2026-12-20T11:00:00Z), under 14: "
     "renewal is not keeping up (journalctl -u onehost-certbot-renew.service on the host)"),
    (lambda r: r.update(certificate=None),
     "certificate unreadable: nginx served none on port 443 and tls-certificate.inc names none; "
     "redeploy to put one in place"),
    (lambda r: r["backups"]["last"].update(age_hours=26.5),
     "last backup is 1 d 2 h old (timewarp-20261206T030400Z.dump), over 26 h "
     "(journalctl -u onehost-backup.service on the host)"),
    (lambda r: r["backups"].update(last=None),
     "no backup yet: backups are on but none has been made (the nightly timer makes one; "
     "sudo systemctl start onehost-backup.service on the host makes one now)"),
    (lambda r: r["backups"]["last"].update(in_s3=False),
     "no backup has reached S3: the newest, timewarp-20261206T030400Z.dump, is only on the host "
     "(journalctl -u onehost-backup.service on the host)"),
    (lambda r: r["backups"]["last_run"].update(ok=False, finished_at="2026-12-06T03:05:00Z",
                                               error="upload to s3://b refused (AccessDenied): kept"),
     "last backup run failed at 2026-12-06T03:05:00Z: upload to s3://b refused (AccessDenied): kept"),
    (lambda r: r["backups"]["drill"].update(passed=False, error="x restored with other row counts"),
     "last restore drill failed at 2026-12-01T05:10:00Z: x restored with other row counts"),
    (lambda r: r.update(failed_units=["onehost-backup.service"]),
     "failed systemd unit: onehost-backup.service (systemctl status UNIT on the host; "
     "systemctl reset-failed UNIT clears it once fixed)"),
    (lambda r: r["disk"]["/data"].update(used_percent=90, available_bytes=2 * 1024 ** 3),
     "disk /data is 90% full (2.0 GiB free), at or over 90%"),
    (lambda r: r["services"]["nginx"].update(health="unhealthy"), "nginx (edge-nginx-1) is unhealthy"),
    (lambda r: r.update(lock={"owner": {"who": "ann", "from": "ci", "pid": 9, "started_at": "2026-12-06T12:00:00"},
                              "age_seconds": 1200, "stale": True}),
     "deploy lock held by ann from ci (pid 9, started 2026-12-06T12:00:00, 20 min ago), longer than a deploy "
     "may take (15 min): the next deploy breaks it"),
])
def test_each_rule_names_its_cause_on_its_own(change, cause):
    report = report_of(TLS_ON)
    assert status.attention(report) == []
    change(report)
    assert status.attention(report) == [cause]


def test_at_the_thresholds_and_with_other_ones():
    report = report_of(TLS_ON)
    report["certificate"]["days_left"] = 14
    report["backups"]["last"]["age_hours"] = 26
    report["disk"]["/"]["used_percent"] = 89
    assert status.attention(report) == []
    stricter = status.Thresholds(certificate_days=30, backup_hours=12, disk_percent=80)
    assert [cause.split(" ")[0:2] for cause in status.attention(report, stricter)] == [
        ["certificate", "for"], ["last", "backup"], ["disk", "/"]]


def test_backups_off_is_no_cause_whatever_the_records_say():
    report = report_of(TLS_ON)
    report["backups"].update(configured=False, last=None)
    report["backups"]["last_run"]["ok"] = False
    assert status.attention(report) == []


def test_a_held_lock_within_its_time_is_no_cause():
    report = report_of(with_sections(HEALTHY, lock='30 {"who": "ann", "from": "ci", "pid": 9}'))
    assert report["lock"] == {"owner": {"who": "ann", "from": "ci", "pid": 9}, "age_seconds": 30, "stale": False}
    assert status.attention(report) == []


def test_without_a_record_the_newest_nightly_dump_stands_in():
    """An image from before the records: the newest local dump (not a pre-migration one), S3 unknown;
    after a run that recorded no upload, known not to be in S3."""
    backups = report_of(with_sections(HEALTHY, backup_config='{"bucket": "b"}'))["backups"]
    assert backups["last"]["backup"] == "timewarp-20261206T132006Z.dump" and backups["last"]["in_s3"] is None
    failed = {**RUN_RECORD, "ok": False, "uploaded": False, "last_uploaded": None, "error": "refused"}
    backups = report_of(with_sections(HEALTHY, backup_config='{"bucket": "b"}',
                                      backup_run=json.dumps(failed)))["backups"]
    assert backups["last"]["in_s3"] is False


def test_the_backup_tool_writes_the_records_this_reads():
    from tests.unit.test_backup_tool import tool
    assert (tool.RUN_RECORD, tool.DRILL_RECORD) == (status.RUN_RECORD, status.DRILL_RECORD)
    when = datetime.fromtimestamp(NOW - 3600, UTC)
    run = tool.run_record(when, "timewarp-20261206T122000Z.dump", 10, "backups/timewarp-20261206T122000Z.dump",
                          None, None)
    drill = tool.drill_record(when, "timewarp-20261206T122000Z.dump", "row counts differ")
    backups = report_of(with_sections(HEALTHY, backup_config='{"bucket": "b"}', backup_run=json.dumps(run),
                                      drill=json.dumps(drill)))["backups"]
    assert backups["last"] == {"backup": "timewarp-20261206T122000Z.dump", "size": 10, "in_s3": True,
                               "finished_at": "2026-12-06T12:20:33Z", "age_hours": 1.0}
    assert (backups["drill"]["passed"], backups["drill"]["error"]) == (False, "row counts differ")


# --- the table and the exit code --------------------------------------------------------------------

def test_the_table_of_a_healthy_host():
    report = report_of(TLS_ON)
    report["attention"] = status.attention(report)
    assert status.format_report(report).splitlines() == [
        "web-1",
        "  release       test-v1-66d5bb31e3 (commit f47c5d212a7b, by root@vm)",
        "  serving       blue: app-blue-app-1 running, healthy, since 2026-12-06 13:19:51 UTC (42 s ago)",
        "  image         timewarp-onehost-h3:id-a545e502aadc",
        '  health        200 {"status": "ok", "database": "ok", "version": "test-v1"} '
        "(https://api.example.com/health/)",
        "  certificate   api.example.com, www.example.com; issuer Let's Encrypt E6; 60 days left "
        "(2027-02-04T13:20:33Z)",
        "  backup        10 h 16 min ago, 25.6 KiB, in S3 (timewarp-backups): timewarp-20261206T030400Z.dump",
        "  drill         5 d 8 h ago, passed (timewarp-20261201T030000Z.dump)",
        "  disk          / 51% of 252.0 GiB (49.8 GiB free); /data 51% of 252.0 GiB (49.8 GiB free)",
        "  memory        2.1 GiB of 23.5 GiB used (9%); swap 0 B of 0 B",
        "  services      nginx running (healthy); PostgreSQL running (healthy)",
        "  failed units  none",
        "  deploy lock   free",
        "  all well",
    ]


def test_the_table_says_backups_off_and_no_tls_and_lists_each_cause():
    report = report_of(with_sections(HEALTHY, release="", failed_units="x.service loaded failed failed X"))
    report["attention"] = status.attention(report)
    lines = status.format_report(report).splitlines()
    assert "  release       no release yet: deploy one first" in lines
    assert "  certificate   none: no TLS on this host" in lines
    assert "  backup        backups off (deploy with --data backup_bucket=... to turn them on)" in lines
    assert lines[-2:] == ["  attention: no release yet: deploy one first (pyinfra deploy/inventory.py "
                          "deploy/deploy.py --data image=...)",
                          "  attention: failed systemd unit: x.service (systemctl status UNIT on the host; "
                          "systemctl reset-failed UNIT clears it once fixed)"]


def test_an_unreachable_host_is_one_line_and_needs_attention():
    report = status.unreachable("web-2", "ssh: connect to host 203.0.113.7 port 22: Connection timed out")
    report["attention"] = status.attention(report)
    assert status.format_report(report) == ("web-2: unreachable: ssh: connect to host 203.0.113.7 port 22: "
                                            "Connection timed out")
    healthy = report_of(HEALTHY)
    healthy["attention"] = status.attention(healthy)
    assert status.exit_code([healthy]) == 0
    assert status.exit_code([healthy, report]) == 1
    document = json.loads(status.json_document([healthy, report]))
    assert document["attention"] is True and [host["host"] for host in document["hosts"]] == ["web-1", "web-2"]


# --- the host side --------------------------------------------------------------------------------

class FakeSession(HostSession):
    """Answers as ssh would: the recorded output, or ssh's own failure (255), or no answer."""

    def run(self, script, *, capture=False, check=True, timeout=None):
        answer = self.data["answer"]
        if answer == "timeout":
            raise CommandFailed(f"command did not finish within {timeout} s")
        code, stdout, stderr = answer
        return subprocess.CompletedProcess([], code, stdout.encode(), stderr.encode())


def test_hosts_that_do_not_answer_are_named_and_the_others_still_reported():
    sessions = [
        FakeSession("web-1", {"answer": (0, HEALTHY, "")}),
        FakeSession("web-2", {"answer": (255, "", "Warning: ...\nssh: connect to host 10.0.0.2 port 22: "
                                                   "Connection refused\n")}),
        FakeSession("web-3", {"answer": "timeout"}),
        FakeSession("web-4", {"answer": (1, "", "sudo: a password is required\n")}),
    ]
    reports = remote.host_reports(sessions, LAYOUT, status.Thresholds())
    assert [report["host"] for report in reports] == ["web-1", "web-2", "web-3", "web-4"]
    assert reports[0]["reachable"] and reports[0]["attention"] == []
    assert [report["attention"] for report in reports[1:]] == [
        ["unreachable: ssh: connect to host 10.0.0.2 port 22: Connection refused"],
        ["unreachable: no answer within 60 s"],
        ["unreachable: the status script failed there (exit 1): sudo: a password is required"]]


def test_the_command_prints_each_host_and_exits_by_the_rules(monkeypatch, capsys):
    from onehost.cli import status as command
    sessions = [FakeSession("web-1", {"answer": (0, HEALTHY, "")})]
    monkeypatch.setattr(command, "chosen_sessions", lambda host: sessions)
    assert main(["status"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  all well"
    assert main(["status", "--json", "--disk-percent", "50"]) == 1
    [report] = json.loads(capsys.readouterr().out)["hosts"]
    assert report["attention"] == ["disk / is 51% full (49.8 GiB free), at or over 50%",
                                   "disk /data is 51% full (49.8 GiB free), at or over 50%"]


def test_an_unknown_host_is_refused_before_any_ssh(monkeypatch, capsys):
    from onehost.remote import session
    monkeypatch.setattr(session, "inventory_sessions", lambda environ=None: [HostSession("web-1", {})])
    assert main(["status", "--host", "web-9"]) == 1
    assert capsys.readouterr().err.strip() == ("error: no host named 'web-9' in the inventory (its hosts: web-1); "
                                               "give one of those to --host, or leave --host out")


def test_the_report_is_not_changed_by_the_rules():
    report = report_of(TLS_ON)
    before = deepcopy(report)
    status.attention(report)
    assert report == before
