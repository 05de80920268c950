"""Finding the linters the test extra installs (beside the interpreter, or on PATH); loading the
host's scripts as modules."""

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from onehost.paths import REPO_ROOT

HOST_SCRIPTS = REPO_ROOT / "deploy" / "rootfs" / "usr" / "local" / "sbin"


def load_host_script(file_name: str, module_name: str) -> ModuleType:
    """A script the image carries in /usr/local/sbin, imported as `module_name` (registered in
    sys.modules first: dataclasses look their module up there)."""
    spec = importlib.util.spec_from_file_location(module_name, HOST_SCRIPTS / file_name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


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
