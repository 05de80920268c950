"""One way to put a secret (or the user's data) on the host: never readable by another user on
the way, never printed, not even by `--diff` (onehost/commands/private_files.py says how)."""

import shlex
from io import BytesIO
from pathlib import Path
from typing import IO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.util import get_file_sha1

from deploy.facts import FileStates
from onehost.commands import file_states, private_files


@operation()
def private_file(content: str | bytes | Path, dest: str, mode: str = file_states.PRIVATE_MODE):
    """`dest` holds `content` (text, bytes or a local file), root:root `mode`."""
    # A local file by its path, text and bytes through memory: what files.put takes (and hashes).
    source = str(content) if isinstance(content, Path) else BytesIO(
        content.encode() if isinstance(content, str) else content)
    present = host.get_fact(FileStates, paths=(dest,)).get(dest)
    if present == file_states.file_state(get_file_sha1(source), mode):
        host.noop(f"{dest} is up to date")
        return
    if host.state.config.DIFF:
        host.log(f"Will {'modify' if present else 'create'} {dest} (private: its contents are not shown)")
    yield from upload_private(source, dest, mode)


def upload_private(source: str | IO, dest: str, mode: str = file_states.PRIVATE_MODE):
    """The commands that put `source` (a local file's path or a file object) at `dest`."""
    directory = private_files.staging_dir()
    yield shlex.join(private_files.make_staging_dir(directory))
    yield FileUploadCommand(source, f"{directory}/file", remote_temp_filename=f"{directory}/upload")
    yield shlex.join(private_files.install_private(directory, dest, mode))
