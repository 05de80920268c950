import json

from onehost.commands import live
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


def test_the_report_reads_the_paths_of_the_hosts_layout():
    layout = live.layout_at("/srv/my data")
    script = history.remote_report(layout, 5)
    assert f"readlink '{layout.releases}'/current" in script and f"readlink '{layout.releases}'/previous" in script
    assert f"tail -n 5 '{layout.history_file}'" in script
    assert layout.history_file == "/srv/my data/history.jsonl"
