"""Cache keys: a hash of the files and values an artifact is built from."""

import hashlib
from collections.abc import Iterable
from pathlib import Path

IGNORED_PARTS = {"__pycache__", ".pytest_cache"}


def files_under(paths: Iterable[Path]) -> list[Path]:
    """Every file below the given files and directories, sorted, caches left out."""
    found = []
    for path in paths:
        candidates = [path] if path.is_file() else path.rglob("*")
        found += [p for p in candidates if p.is_file() and not IGNORED_PARTS & set(p.parts)]
    return sorted(found)


def digest(paths: Iterable[Path], *values: str, root: Path, length: int = 12) -> str:
    """Hex digest of the files' names relative to `root` (so any checkout agrees) and bytes,
    then the extra values."""
    sha = hashlib.sha256()
    for path in files_under(paths):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for value in values:
        sha.update(value.encode() + b"\0")
    return sha.hexdigest()[:length]
