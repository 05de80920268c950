"""Every `onehost` command the README shows in a shell block parses with the real CLI: a flag
or a subcommand the README names and the code does not have fails here."""

import re
import shlex
from pathlib import Path

import pytest

from onehost.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", README.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if re.match(r"(\.venv/bin/)?onehost ", line):
                # The shell fills a command substitution in; a documentation address stands for it.
                commands.append(re.sub(r"\$\([^)]*\)", "203.0.113.4", line))
    return commands


def test_the_readme_shows_onehost_commands():
    assert len(readme_commands()) >= 8


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_parses(command):
    words = shlex.split(command)[1:]
    try:
        build_parser().parse_args(words)
    except SystemExit as stop:
        assert stop.code == 0, f"the README's `{command}` does not parse"
