"""Backup tooling: the PostgreSQL client of the server's major version, the script and timer."""

import re

from tests.host.image.conftest import GROUP_DATA


def major(version_output: str) -> str:
    return re.search(r"\(PostgreSQL\) (\d+)", version_output).group(1)


def test_client_matches_the_server_major_version(image_host):
    assert major(image_host.check_output("pg_dump --version")) == GROUP_DATA["postgres_major"]
    server = image_host.run("docker exec data-postgres-1 postgres --version")
    if server.rc == 0:  # deployed
        assert major(server.stdout) == GROUP_DATA["postgres_major"]


def test_backup_timer_is_scheduled(image_host):
    timer = image_host.service("onehost-backup.timer")
    assert timer.is_enabled and timer.is_running


def test_backup_makes_a_dump_the_client_can_read(image_host):
    listing = "ls -1 /data/backups/scheduled-*.dump 2>/dev/null || true"
    before = set(image_host.check_output(listing).split())
    result = image_host.run("/usr/local/sbin/onehost-backup")
    assert result.rc == 0, result.stdout + result.stderr
    made = set(image_host.check_output(listing).split()) - before
    if image_host.file("/data/stacks/data/compose.yaml").exists:
        assert len(made) == 1, result.stdout
        dump = made.pop()
        try:
            contents = image_host.check_output(f"pg_restore --list {dump}")
            assert "TABLE" in contents
        finally:
            image_host.run(f"rm -f {dump}")
    else:  # an image before any deploy: nothing to dump yet
        assert not made and "nothing to back up" in result.stdout
