import json

from onehost.remote import history

HISTORY = [{"action": "deploy", "release": "v2-bbb", "result": "ok", "seconds": 9.1,
            "who": "ci@runner", "started_at": "2026-11-25T10:00:00+00:00", "error": None},
           {"action": "deploy", "release": "v3-ccc", "result": "failed", "seconds": 21.0,
            "who": "ci@runner", "started_at": "2026-11-25T11:00:00+00:00",
            "error": "deploy of v3-ccc failed at 'migrations': boom; v2-bbb (green) is still serving"}]
REPORT = """== current
/data/releases/v2-bbb
== previous
/data/releases/v1-aaa
== releases
1764064800 {"id": "v1-aaa", "image": "timewarp:v1", "git_commit": "0123456789abcdef", "deployed_by": "ci@runner"}
1764068400 {"id": "v2-bbb", "image": "timewarp:v2", "git_commit": null, "deployed_by": "ana@laptop"}
== history
""" + "".join(json.dumps(entry) + "\n" for entry in HISTORY)


def test_report_parses_links_releases_and_history():
    report = history.parse_report(REPORT)
    assert report["current"] == "v2-bbb" and report["previous"] == "v1-aaa"
    assert [record["id"] for _, record in report["releases"]] == ["v1-aaa", "v2-bbb"]
    assert [entry["release"] for entry in report["history"]] == ["v2-bbb", "v3-ccc"]


def test_releases_table_marks_current_and_previous_newest_first():
    lines = history.format_releases(history.parse_report(REPORT)).splitlines()
    assert lines[0].split() == ["RELEASE", "CREATED", "(UTC)", "IMAGE", "COMMIT", "BY"]
    assert lines[1].split()[:2] == ["v2-bbb", "current"]
    assert lines[2].split()[:2] == ["v1-aaa", "previous"] and "0123456789" in lines[2]


def test_history_table_shows_failures_without_repeating_the_release():
    lines = history.format_history(history.parse_report(REPORT)).splitlines()
    assert lines[1].split()[:4] == ["2026-11-25T11:00:00+00:00", "deploy", "v3-ccc", "21.0"]
    assert lines[1].endswith("failed: failed at 'migrations': boom; v2-bbb (green) is still serving")
    assert lines[2].rstrip().endswith("ok")


def test_an_empty_host_says_so():
    report = history.parse_report("== current\n== previous\n== releases\n== history\n")
    assert history.format_releases(report) == "no releases"
    assert history.format_history(report) == "no deploys yet"


def test_ssh_command_uses_the_inventory_settings():
    command = history.ssh_command("onehost-local", {
        "ssh_hostname": "127.0.0.1", "ssh_port": 2222, "ssh_user": "admin", "ssh_key": "/k",
        "ssh_known_hosts_file": "/kh", "ssh_strict_host_key_checking": "accept-new"}, "true")
    assert command == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222", "-i", "/k",
                       "-o", "UserKnownHostsFile=/kh", "-o", "StrictHostKeyChecking=accept-new",
                       "admin@127.0.0.1", "sudo sh -c true"]


def test_ssh_command_reads_an_ec2_hosts_config_for_its_tunnel_and_pinned_keys():
    command = history.ssh_command("i-0abc", {
        "ssh_hostname": "i-0abc", "ssh_user": "admin", "ssh_config_file": "/state/aws/ssh_config",
        "ssh_known_hosts_file": "/state/aws/known_hosts", "ssh_strict_host_key_checking": "yes"}, "true")
    assert command == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                       "-o", "UserKnownHostsFile=/state/aws/known_hosts", "-o", "StrictHostKeyChecking=yes",
                       "-F", "/state/aws/ssh_config", "admin@i-0abc", "sudo sh -c true"]
