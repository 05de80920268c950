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


REPO = README.parent
SHELL_LINES = [line.split(" #")[0].strip() for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```",
                                                                     README.read_text(), flags=re.S)
               for line in block.replace("\\\n", " ").splitlines()]
TOP_DIRS = ("packer/", "deploy/", "compose/", "nginx/", "backup/", "tests/", "onehost/", "example/",
            "bench/", "scripts/", ".github/", "images/")


def words_of(line: str) -> list[str]:
    return shlex.split(re.sub(r"\$\([^)]*\)", "x", line.replace('\\"', "")))


def test_every_repository_path_the_readme_names_exists():
    named = set(re.findall(r"`((?:%s)[^`\s<>*]*)`" % "|".join(map(re.escape, TOP_DIRS)), README.read_text()))
    named |= {word for line in SHELL_LINES for word in words_of(line) if word.startswith(TOP_DIRS)}
    missing = sorted(path for path in named if not (REPO / path.split("::")[0]).exists())
    assert len(named) > 30 and not missing, missing


def test_every_onehost_variable_the_readme_names_is_read_by_the_code():
    named = set(re.findall(r"\bONEHOST_[A-Z_]*[A-Z]\b", README.read_text()))
    code = "".join(path.read_text(errors="replace") for folder in ("onehost", "deploy", "scripts", ".github", "tests")
                   for path in (REPO / folder).rglob("*") if path.is_file() and path.suffix in (".py", ".sh", ".yml", ""))
    unread = sorted(name for name in named if name not in code)
    assert named and not unread, unread


PACKER_VARIABLES = set(re.findall(r'^variable "(\w+)"', (REPO / "packer" / "variables.pkr.hcl").read_text(), re.M))
PACKER_SOURCES = {f"{kind}.{name}" for kind, name in
                  re.findall(r'^source "([\w-]+)" "(\w+)"', (REPO / "packer" / "onehost.pkr.hcl").read_text(), re.M)}


@pytest.mark.parametrize("line", [line for line in SHELL_LINES if re.match(r"(\.venv/bin/)?packer (build|validate)", line)])
def test_a_readme_packer_command_names_what_the_template_has(line):
    words = words_of(line)
    variables = [words[index + 1].split("=")[0] for index, word in enumerate(words) if word == "-var"]
    sources = [word.split("=", 1)[1] for word in words if word.startswith("-only=")]
    assert set(variables) <= PACKER_VARIABLES, set(variables) - PACKER_VARIABLES
    assert set(sources) <= PACKER_SOURCES, set(sources) - PACKER_SOURCES


def test_every_virtualenv_program_the_readme_runs_is_installed_there():
    """`make bootstrap` makes .venv; Packer and the AWS CLI are not in it."""
    programs = set(re.findall(r"\.venv/bin/([\w-]+)", README.read_text()))
    missing = sorted(name for name in programs if not (REPO / ".venv" / "bin" / name).exists())
    assert programs >= {"onehost", "pyinfra"} and not missing, missing


INLINE_COMMANDS = sorted(set(re.findall(r"`(?:\.venv/bin/)?onehost ([^`]*)`", README.read_text())))


@pytest.mark.parametrize("command", INLINE_COMMANDS)
def test_an_inline_readme_command_names_a_real_command_and_its_flags(command, capsys):
    """Prose names commands in code spans with placeholders (`--host <name>`, `...`): their
    subcommand must exist and each flag must be one of its options."""
    words = command.split()
    path = [word for word in words[:next((i for i, word in enumerate(words) if not re.fullmatch(r"[a-z-]+", word)),
                                         len(words))] if not word.startswith("-")]
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*path, "--help"])
    assert stop.value.code == 0, f"`onehost {command}`: no such command"
    options = capsys.readouterr().out
    flags = [word.strip("[]") for word in words if word.strip("[]").startswith("--")]
    assert all(re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", options) for flag in flags), (command, flags)
