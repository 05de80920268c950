"""Many facts in one round trip: the batch command run for real here, and each fact's value
from the batch equal to its value asked alone."""

import subprocess

import pytest
from pyinfra.facts.files import File, Link

from deploy.facts import TextFile, _command_text, fact_value
from onehost.commands import fact_batch

pytestmark = pytest.mark.unit


def run_shell(command: str) -> tuple[int, list[str]]:
    """Status and stdout lines, split the way pyinfra's connectors split them."""
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    return done.returncode, [line.rstrip("\n") for line in done.stdout.splitlines(keepends=True)]


def test_the_batch_marks_each_command_with_its_status_and_exact_output():
    commands = ["printf 'a\\nb\\n'", "echo oops >&2; exit 3", "true", "printf 'no newline'",
                "printf 'x\\n\\n\\ny\\n\\n'"]
    status, lines = run_shell(fact_batch.batch_command(commands))
    assert status == 0
    assert fact_batch.parse_batch(lines, len(commands)) == [
        (0, ["a", "b"]), (3, []), (0, []), (0, ["no newline"]), (0, ["x", "", "", "y", ""])]


def test_a_command_the_output_does_not_answer_is_none():
    assert fact_batch.parse_batch([f"{fact_batch.MARKER} 1 0 eA==", "noise"], 3) == [None, (0, ["x"]), None]


def test_the_batch_command_starts_every_command_then_prints_each():
    assert fact_batch.batch_command(["true", "false"]) == (
        'dir=$(mktemp -d) || exit 1; '
        '{ ( true ) >"$dir/0" 2>/dev/null; echo $? >"$dir/0.status"; } & '
        '{ ( false ) >"$dir/1" 2>/dev/null; echo $? >"$dir/1.status"; } & wait; '
        'printf "%s %s %s %s\\n" @@onehost-fact 0 "$(cat "$dir/0.status")" "$(base64 -w0 < "$dir/0")"; '
        'printf "%s %s %s %s\\n" @@onehost-fact 1 "$(cat "$dir/1.status")" "$(base64 -w0 < "$dir/1")"; '
        'rm -rf "$dir"')


def test_the_commands_run_side_by_side_and_leave_nothing_behind(tmp_path):
    """Each command waits until all five have started (up to 10 s): in turn, the first would
    finish before the second started. The temporary directory goes."""
    log = tmp_path / "log"
    barrier = (f'echo start >> {log}; i=0; while [ "$(grep -c start {log})" -lt 5 ] && [ "$i" -lt 200 ]; '
               f'do sleep 0.05; i=$((i + 1)); done; echo end >> {log}')
    commands = [f"{barrier}; echo {index}" for index in range(5)]
    work = tmp_path / "tmp"
    work.mkdir()
    status, lines = run_shell(f"TMPDIR={work} && export TMPDIR && " + fact_batch.batch_command(commands))
    assert status == 0
    assert log.read_text().splitlines() == ["start"] * 5 + ["end"] * 5
    assert fact_batch.parse_batch(lines, 5) == [(0, [str(index)]) for index in range(5)]
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("fact", [File, Link, TextFile])
def test_each_fact_reads_the_same_from_the_batch_as_alone(tmp_path, fact):
    (tmp_path / "upstream.inc").write_text("server unix:/x;\n\n")
    (tmp_path / "current").symlink_to(tmp_path / "upstream.inc")
    paths = [tmp_path / "upstream.inc", tmp_path / "current", tmp_path / "absent"]
    commands = [_command_text(fact().command(path=str(path))) for path in paths]
    _, batch_lines = run_shell(fact_batch.batch_command(commands))
    from_batch = [fact_value(fact, answer[1]) for answer in fact_batch.parse_batch(batch_lines, len(commands))]
    alone = []
    for command in commands:
        status, lines = run_shell(command)
        assert status == 0
        alone.append(fact_value(fact, lines))
    assert from_batch == alone
    assert alone[2] is None
