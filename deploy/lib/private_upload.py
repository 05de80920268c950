"""One way to put a secret (or the user's data) on the host: never readable by another user on
the way, never printed, not even by `--diff` (onehost/commands/private_files.py says how)."""

import hashlib
import shlex
from io import BytesIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation
from pyinfra.facts.files import File, Sha1File

from onehost.commands import private_files


def sha1_of(content: bytes | Path) -> str:
    digest = hashlib.sha1()
    if isinstance(content, Path):
        with content.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(content)
    return digest.hexdigest()


@operation()
def private_file(content: str | bytes | Path, dest: str, mode: str = "600"):
    """`dest` holds `content` (text, bytes or a local file), root:root `mode`."""
    data = content.encode() if isinstance(content, str) else content
    present = host.get_fact(File, path=dest)
    if (present and present["user"] == "root" and present["group"] == "root"
            and present["mode"] == int(mode) and host.get_fact(Sha1File, path=dest) == sha1_of(data)):
        host.noop(f"{dest} is up to date")
        return
    if host.state.config.DIFF:
        host.log(f"Will {'modify' if present else 'create'} {dest} (private: its contents are not shown)")
    directory = private_files.staging_dir()
    yield shlex.join(private_files.make_staging_dir(directory))
    yield FileUploadCommand(str(data) if isinstance(data, Path) else BytesIO(data), f"{directory}/file",
                            remote_temp_filename=f"{directory}/upload")
    yield shlex.join(private_files.install_private(directory, dest, mode))
