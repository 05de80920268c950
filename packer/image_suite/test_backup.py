"""Backup tooling: the PostgreSQL client of the server's major version, onehost-backup and its timers.
What a backup does is tested on a deployed host (tests/host/test_backups.py)."""

import re

from .conftest import GROUP_DATA


def major(version_output: str) -> str:
    return re.search(r"\(PostgreSQL\) (\d+)", version_output).group(1)


def test_client_matches_the_server_major_version(image_host):
    assert major(image_host.check_output("pg_dump --version")) == GROUP_DATA["postgres_major"]
    server = image_host.run("docker exec data-postgres-1 postgres --version")
    if server.rc == 0:  # deployed
        assert major(server.stdout) == GROUP_DATA["postgres_major"]


def test_backup_and_drill_timers_are_scheduled(image_host):
    for timer in ("onehost-backup.timer", "onehost-backup-drill.timer"):
        unit = image_host.service(timer)
        assert unit.is_enabled and unit.is_running, timer


def test_without_settings_the_tool_says_how_to_get_them(image_host):
    result = image_host.run("/usr/local/sbin/onehost-backup --config /nonexistent/config.json list")
    assert result.rc == 1
    assert "deploy with --data backup_bucket=<bucket>" in result.stderr


def test_the_tool_finds_boto3(image_host):
    assert image_host.run("python3 -c 'import boto3, botocore'").rc == 0


def test_the_tool_can_unpack_media_archives_safely(image_host):
    """The restore unpacks media with tarfile's data filter (Python 3.12 and later)."""
    assert image_host.run("python3 -c 'import tarfile; tarfile.data_filter'").rc == 0
