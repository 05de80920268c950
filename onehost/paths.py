"""Where the project's files and this machine's state live."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Per-user state (SSH keys, known hosts, generated secrets); ONEHOST_STATE_DIR overrides."""
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "onehost"
    path = Path(os.environ.get("ONEHOST_STATE_DIR", default))
    path.mkdir(parents=True, exist_ok=True)
    return path
