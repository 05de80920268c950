"""Many directories on the host made in one operation: their modes read by one fact, and only
the missing ones (or those of another mode) made, by one `mkdir -p` and a `chmod` per mode.
pyinfra's files.directory costs a fact (a round trip) per directory."""

import shlex

from pyinfra import host
from pyinfra.api import operation

from deploy.facts import DirectoryModes
from onehost.commands import file_states


@operation()
def directories(wanted: dict[str, str], before: dict[str, str] | None = None):
    """Each path is a directory of its mode (path: mode, e.g. {"/data/releases": "755"}).
    `before`: their modes asked while planning, when no earlier operation makes them; without
    it the operation asks as it runs."""
    modes = host.get_fact(DirectoryModes, paths=tuple(wanted)) if before is None else before
    outdated = file_states.directories_to_make(wanted, modes)
    if not outdated:
        host.noop(f"{len(wanted)} directories in place")
        return
    yield " && ".join(shlex.join(command) for command in file_states.make_directories(wanted, outdated))
