"""The example app's own Django test suite, and its Dockerfile's lint."""
import os
import subprocess
import sys

import pytest

from onehost.paths import REPO_ROOT
from tests.tools import installed_tool

pytestmark = pytest.mark.unit

EXAMPLE = REPO_ROOT / "example"


def test_example_django_suite_passes():
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "timewarp.settings.test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "--verbosity", "2"],
        cwd=EXAMPLE, env=environ, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"example tests failed:\n{result.stdout}\n{result.stderr}"


def test_example_dockerfile_passes_hadolint():
    result = subprocess.run([installed_tool("hadolint"), str(EXAMPLE / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"hadolint found problems:\n{result.stdout}\n{result.stderr}"
