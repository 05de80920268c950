"""The reference pages generated from the code (docs/reference/{settings,cli,stack,packer}.md) are
what scripts/gen_reference.py writes today, come out the same wherever it runs, and leave nothing
of their sources out."""

import argparse
import importlib.util
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from onehost.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "reference"
COMMAND = ".venv/bin/python scripts/gen_reference.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_reference", REPO / "scripts" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()
PAGES = GENERATOR.pages()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_committed_page_is_what_the_generator_writes(name):
    committed = REFERENCE / name
    assert committed.exists(), f"docs/reference/{name} is missing: run `{COMMAND}`"
    assert committed.read_text() == PAGES[name], f"docs/reference/{name} is stale: run `{COMMAND}`"


def test_the_pages_do_not_depend_on_where_the_generator_runs(tmp_path):
    """Another directory, home and terminal width (argparse wraps help to COLUMNS): the same pages,
    so a page generated on one machine is not stale on another."""
    home = tmp_path / "home"
    home.mkdir()
    environment = {**os.environ, "HOME": str(home), "COLUMNS": "37", "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(REPO / "scripts" / "gen_reference.py"), "--out", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name, text in PAGES.items():
        written = (tmp_path / "out" / name).read_text()
        assert written == text, f"{name} differs when generated from {tmp_path}"
        assert str(REPO) not in written and str(Path.home()) not in written, name


def table_keys(page: str) -> set[str]:
    """The code span that opens each table row."""
    return set(re.findall(r"^\| `([^`]+)` \|", page, re.M))


def test_every_group_data_key_is_on_the_settings_page():
    values = runpy.run_path(str(REPO / "deploy" / "group_data" / "all.py"))
    keys = {name for name, value in values.items() if not name.startswith("_") and not callable(value)
            and type(value).__name__ != "module"}
    assert keys == table_keys(PAGES["settings.md"])


def every_parser(parser: argparse.ArgumentParser, path: list[str]):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from every_parser(child, [*path, name])


def test_every_command_and_option_is_on_the_cli_page():
    page = PAGES["cli.md"]
    sections = dict(re.findall(r"^## `(onehost[^`]*)`\n(.*?)(?=^## |\Z)", page, re.M | re.S))
    commands = list(every_parser(build_parser(), ["onehost"]))[1:]
    assert set(sections) == {" ".join(path) for path, _ in commands}
    for path, parser in commands:
        options = {option for action in parser._actions for option in action.option_strings} - {"-h", "--help"}
        missing = {option for option in options if f"`{option}" not in sections[" ".join(path)]}
        assert not missing, (path, missing)


class AnyTag(yaml.SafeLoader):
    pass


AnyTag.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_every_parameter_resource_and_output_is_on_the_stack_page():
    template = yaml.load((REPO / "deploy" / "aws" / "stack.yaml").read_text(), Loader=AnyTag)  # noqa: S506
    page = PAGES["stack.md"]
    for section in ("Parameters", "Resources", "Outputs", "Conditions"):
        body = re.search(rf"^## {section}\n(.*?)(?=^## |\Z)", page, re.M | re.S).group(1)
        assert set(template[section]) == table_keys(body), section


def test_every_packer_variable_and_source_is_on_the_packer_page():
    variables = set(re.findall(r'^variable "(\w+)"', (REPO / "packer" / "variables.pkr.hcl").read_text(), re.M))
    sources = {f"{kind}.{name}" for kind, name in
               re.findall(r'^source "([\w-]+)" "(\w+)"', (REPO / "packer" / "onehost.pkr.hcl").read_text(), re.M)}
    page = PAGES["packer.md"]
    assert variables | sources <= table_keys(page)
    # A variable's type, default and description come through as the file has them.
    assert '| `ssh_source_cidrs` | `list(string)` | `[]` | Who may reach the builder' in page


def test_comments_reach_the_key_they_describe_and_markup_is_escaped():
    settings = PAGES["settings.md"]
    assert "| `drain_seconds` | `30` | After the switch, how long the old colour may finish" in settings
    # A comment's <placeholder> would vanish as an HTML tag; it is written as text.
    assert "&lt;data_dir&gt;/static" in settings
    stack = PAGES["stack.md"]
    # A pattern with | stays in one cell: inside a code span, which the table keeps whole.
    assert "`^$|^([0-9]{1,3}" in stack
