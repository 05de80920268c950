"""Running the project's pyinfra deploy files from the console script, tests and benchmarks."""

import os
import sys
from pathlib import Path

from onehost.local.shell import CommandFailed, run
from onehost.paths import REPO_ROOT


def pyinfra_executable() -> str:
    beside_python = Path(sys.executable).parent / "pyinfra"
    if not beside_python.exists():
        raise CommandFailed("pyinfra is not installed beside this Python: run `make bootstrap`")
    return str(beside_python)


def pyinfra_command(deploy_file: str, data: dict[str, str], dry: bool = False) -> list[str]:
    """`pyinfra --yes deploy/inventory.py deploy/<file> --data k=v ...` (run from the repo root)."""
    command = [pyinfra_executable(), "--yes"]
    if dry:
        command.append("--dry")
    command += ["deploy/inventory.py", f"deploy/{deploy_file}"]
    for key, value in data.items():
        command += ["--data", f"{key}={value}"]
    return command


def run_deploy(deploy_file: str, data: dict[str, str], environ=None, capture: bool = False,
               timeout: float | None = None, check: bool = True):
    return run(pyinfra_command(deploy_file, data), cwd=REPO_ROOT,
               env={**os.environ, **(environ or {})}, capture=capture, timeout=timeout, check=check)
