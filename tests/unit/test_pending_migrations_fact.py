"""The --dry plan's migration check: what it runs and what it makes of the answer."""

import shlex

from deploy.facts import PendingMigrations
from onehost.commands import compose_commands, switch


def test_it_asks_a_one_off_container_of_the_live_release_with_the_new_image():
    command = PendingMigrations().command(image="timewarp:id-0123456789ab", release_dir="/data/releases/v1-abc")
    assert command == shlex.join(compose_commands.app_one_off(
        "/data/releases/v1-abc", "timewarp:id-0123456789ab",
        "python", "manage.py", "shell", "--command", switch.MIGRATION_STATE)) + " 2>&1 || true"


def test_the_pending_migrations_are_read_from_the_containers_output():
    output = ["Container app-oneoff-app-run-1 Creating",
              'ONEHOST_MIGRATIONS {"pending": ["events.0002"], "unknown": []}']
    assert PendingMigrations().process(output) == ["events.0002"]


def test_a_container_that_cannot_answer_gives_its_last_line_as_the_reason():
    output = ["Container app-oneoff-app-run-1 Creating", "django.db.utils.OperationalError: connection refused", ""]
    assert PendingMigrations().process(output) == "django.db.utils.OperationalError: connection refused"
    assert PendingMigrations().process([]) == "no output"
