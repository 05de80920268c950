"""Files the host carries live in deploy/rootfs/, a tree that mirrors `/`."""

from pathlib import Path

from pyinfra.operations import files

ROOTFS = Path(__file__).resolve().parent.parent / "rootfs"


def put(path: str, mode: str = "644"):
    """Upload deploy/rootfs/<path> to /<path>, owned by root; returns the operation."""
    return files.put(
        name=f"Install {path}",
        src=str(ROOTFS / path.lstrip("/")),
        dest=path,
        user="root",
        group="root",
        mode=mode,
    )
