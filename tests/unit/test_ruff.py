"""ruff over the repository's Python, with pyproject.toml's [tool.ruff] settings."""

import subprocess
import sys
from pathlib import Path

from onehost.paths import REPO_ROOT


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).parent / "ruff"   # installed beside this interpreter by the test extra
    result = subprocess.run([str(ruff), "check", "--no-cache", "--exclude", ".venv", "--output-format", "concise", "."],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, \
        f"ruff check (fix with `ruff check --fix`, then by hand):\n{result.stdout}{result.stderr}"
