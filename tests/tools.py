"""Finding the linters the test extra installs (beside the interpreter, or on PATH)."""

import shutil
import sys
from pathlib import Path

import pytest


def installed_tool(name: str) -> str:
    """The tool's path; a missing tool fails the test (the test extra installs it)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make bootstrap`")
    return found


def stack_template() -> dict:
    """The CloudFormation template (deploy/aws/stack.yaml) as cfn-lint reads it, tags and all."""
    from cfnlint.decode import decode

    from onehost.aws.stack import TEMPLATE
    loaded, problems = decode(str(TEMPLATE))
    assert problems == [], problems
    return loaded


def database_filter_pattern() -> str:
    """The FilterPattern of the metric filter that counts database connection failures."""
    return stack_template()["Resources"]["DatabaseConnectionFailuresFilter"]["Properties"]["FilterPattern"]
