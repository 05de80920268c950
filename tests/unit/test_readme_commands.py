"""What the README and the documentation pages (docs/**/*.md) tell a reader to run exists: every
`onehost` command in a shell block parses with the real CLI, every repository path is there,
every ONEHOST_* variable is read by the code, every `packer build` names the template's variables
and sources, every .venv program is installed, every `onehost ...` code span names a real command
and its flags, and the README's two commands are the Makefile's and CI's."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from onehost.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").rglob("*.md"))]
SHELL_BLOCK = re.compile(r"```(?:sh|bash|console)\n(.*?)```", flags=re.S)


# As a user types it: `make test` runs this suite, and a make inside make would print its
# "Entering directory" lines and inherit the outer one's flags.
MAKE_DRY_RUN = ["make", "--dry-run", "--no-print-directory"]
OUTSIDE_MAKE = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}

def name_of(page: Path) -> str:
    return str(page.relative_to(REPO))


def shell_lines(page: Path) -> list[str]:
    """The lines of the page's shell blocks, continuations joined, comments dropped."""
    return [line.split(" #")[0].strip() for block in SHELL_BLOCK.findall(page.read_text())
            for line in block.replace("\\\n", " ").splitlines()]


def onehost_commands(page: Path) -> list[str]:
    # The shell fills a command substitution in; a documentation address stands for it.
    return [re.sub(r"\$\([^)]*\)", "203.0.113.4", line) for line in shell_lines(page)
            if re.match(r"(\.venv/bin/|~/onehost/\.venv/bin/)?onehost ", line)]


COMMANDS = [(name_of(page), command) for page in PAGES for command in onehost_commands(page)]


def test_the_pages_show_onehost_commands():
    assert len(COMMANDS) >= 8
    assert {name for name, _ in COMMANDS} >= {"docs/tutorials/demo.md", "docs/tutorials/first-aws-environment.md"}


@pytest.mark.parametrize(("page", "command"), COMMANDS)
def test_a_shown_command_parses(page, command):
    words = shlex.split(command)[1:]
    try:
        build_parser().parse_args(words)
    except SystemExit as stop:
        assert stop.code == 0, f"{page}: `{command}` does not parse"


TOP_DIRS = ("packer/", "deploy/", "compose/", "nginx/", "backup/", "tests/", "onehost/", "example/",
            "bench/", "scripts/", ".github/", "images/", "docs/", ".ci/")


TOP_DIR_PATTERN = "|".join(map(re.escape, TOP_DIRS))


def words_of(line: str) -> list[str]:
    return shlex.split(re.sub(r"\$\([^)]*\)", "x", line.replace('\\"', "")))


def test_every_repository_path_the_pages_name_exists():
    named = {}
    for page in PAGES:
        spans = re.findall(rf"`((?:{TOP_DIR_PATTERN})[^`\s<>*]*)`", page.read_text())
        words = [word for line in shell_lines(page) for word in words_of(line) if word.startswith(TOP_DIRS)]
        for path in [*spans, *words]:
            named.setdefault(path, name_of(page))
    missing = sorted(f"{page}: {path}" for path, page in named.items() if not (REPO / path.split("::")[0]).exists())
    assert len(named) > 30 and not missing, missing


def test_every_onehost_variable_the_pages_name_is_read_by_the_code():
    named = {name: name_of(page) for page in PAGES
             for name in re.findall(r"\bONEHOST_[A-Z_]*[A-Z]\b", page.read_text())}
    code = "".join(path.read_text(errors="replace") for folder in ("onehost", "deploy", "scripts", ".github", "tests")
                   for path in (REPO / folder).rglob("*")
                   if path.is_file() and path.suffix in (".py", ".sh", ".yml", ""))
    unread = sorted(f"{page}: {name}" for name, page in named.items() if name not in code)
    assert named and not unread, unread


PACKER_VARIABLES = set(re.findall(r'^variable "(\w+)"', (REPO / "packer" / "variables.pkr.hcl").read_text(), re.M))
PACKER_SOURCES = {f"{kind}.{name}" for kind, name in
                  re.findall(r'^source "([\w-]+)" "(\w+)"', (REPO / "packer" / "onehost.pkr.hcl").read_text(), re.M)}
PACKER_LINES = [(name_of(page), line) for page in PAGES for line in shell_lines(page)
                if re.match(r"(\.venv/bin/)?packer (build|validate)", line)]


def test_the_pages_show_a_packer_build():
    assert PACKER_LINES


@pytest.mark.parametrize(("page", "line"), PACKER_LINES)
def test_a_shown_packer_command_names_what_the_template_has(page, line):
    words = words_of(line)
    variables = [words[index + 1].split("=")[0] for index, word in enumerate(words) if word == "-var"]
    sources = [word.split("=", 1)[1] for word in words if word.startswith("-only=")]
    assert set(variables) <= PACKER_VARIABLES, (page, set(variables) - PACKER_VARIABLES)
    assert set(sources) <= PACKER_SOURCES, (page, set(sources) - PACKER_SOURCES)


def test_every_virtualenv_program_the_pages_run_is_installed_there():
    """`make bootstrap` makes .venv; Packer and the AWS CLI are not in it."""
    programs = {name: name_of(page) for page in PAGES for name in re.findall(r"\.venv/bin/([\w-]+)", page.read_text())}
    missing = sorted(f"{page}: {name}" for name, page in programs.items()
                     if not (REPO / ".venv" / "bin" / name).exists())
    assert set(programs) >= {"onehost", "pyinfra", "mkdocs"} and not missing, missing


INLINE_COMMANDS = sorted({(name_of(page), command) for page in PAGES
                          for command in re.findall(r"`(?:\.venv/bin/)?onehost ([^`]*)`", page.read_text())})


@pytest.mark.parametrize(("page", "command"), INLINE_COMMANDS)
def test_an_inline_command_names_a_real_command_and_its_flags(page, command, capsys):
    """Prose names commands in code spans with placeholders (`--host <name>`, `...`): their
    subcommand must exist and each flag must be one of its options."""
    words = command.split()
    words = words[:words.index("--")] if "--" in words else words   # what follows `--` runs on the host
    path = [word for word in words[:next((i for i, word in enumerate(words) if not re.fullmatch(r"[a-z-]+", word)),
                                         len(words))] if not word.startswith("-")]
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*path, "--help"])
    assert stop.value.code == 0, f"{page}: `onehost {command}`: no such command"
    options = capsys.readouterr().out
    flags = [word.strip("[]") for word in words if word.strip("[]").startswith("--")]
    assert all(re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", options) for flag in flags), (page, command, flags)


MAKE_LINES = [(name_of(page), line) for page in PAGES for line in shell_lines(page)
              if re.match(r"(\S+=\S+ )*make ", line)]


@pytest.mark.parametrize(("page", "line"), MAKE_LINES)
def test_a_shown_make_command_is_one_the_makefile_runs(page, line):
    words = shlex.split(line)
    dry = subprocess.run([*MAKE_DRY_RUN, *words[words.index("make") + 1:]], cwd=REPO, capture_output=True,
                         text=True, timeout=30, env=OUTSIDE_MAKE)
    assert dry.returncode == 0, f"{page}: `{line}`: {dry.stderr}"


def test_the_readme_promises_two_commands_that_install_what_they_need_and_ci_runs():
    section = re.search(r"^## The two commands\n(.*?)(?=^## )", README.read_text(), flags=re.S | re.M)
    assert section, "README.md has no '## The two commands' section"
    lines = [line for block in SHELL_BLOCK.findall(section.group(1))
             for line in (raw.split(" #")[0].strip() for raw in block.splitlines()) if line]
    assert lines == ["make demo", "make test"]
    for line in lines:
        # Each first runs the bootstrap (apt packages, .venv, Docker), as the README says.
        planned = subprocess.run([*MAKE_DRY_RUN, *line.split()[1:]], cwd=REPO, capture_output=True, text=True,
                                 timeout=30, env=OUTSIDE_MAKE).stdout.splitlines()
        assert planned[0] == "bash scripts/bootstrap.sh", (line, planned)
    # CI proves the README: its script runs the second command.
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if not line.lstrip().startswith("#")]
    assert "make test" in ci


def test_the_readme_fits_on_a_screen_or_two():
    assert len(README.read_text().splitlines()) <= 150
