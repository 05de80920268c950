"""Many files on a host compared in one round trip: their SHA-1, mode and owner from one command,
against what a deploy would write. pyinfra's files.put asks three facts per file (the file,
its directory, its SHA-1); a stack's files checked this way cost one."""

import hashlib
from collections.abc import Iterable, Sequence

# One line per regular file that exists: `<sha1> <mode> <user>:<group> <path>`; none for the rest.
SCRIPT = ('for path; do if [ -f "$path" ]; then '
          'printf "%s %s %s\\n" "$(sha1sum < "$path" | cut -c1-40)" "$(stat -c "%a %U:%G" "$path")" "$path"; '
          'fi; done')


def states_command(paths: Sequence[str]) -> list[str]:
    return ["sh", "-c", SCRIPT, "file-states", *paths]


def parse_states(lines: Iterable[str]) -> dict[str, str]:
    """{path: "<sha1> <mode> <owner>"} for each file the command found."""
    states = {}
    for line in lines:
        parts = line.strip().split(" ", 3)
        if len(parts) == 4:
            states[parts[3]] = " ".join(parts[:3])
    return states


def wanted_state(text: str, mode: str, owner: str = "root:root") -> str:
    """What states_command prints for a file holding `text` with `mode` (e.g. "644") and owner."""
    return f"{hashlib.sha1(text.encode()).hexdigest()} {int(mode, 8):o} {owner}"


def stale(texts: dict[str, str], states: dict[str, str], mode: str, owner: str = "root:root") -> list[str]:
    """The paths whose file is missing or differs in content, mode or owner, in the given order."""
    return [path for path, text in texts.items() if states.get(path) != wanted_state(text, mode, owner)]


def changed_content(texts: dict[str, str], states: dict[str, str]) -> list[str]:
    """The paths that exist and hold other content (what a stack's undo must keep a copy of)."""
    return [path for path, text in texts.items()
            if path in states and states[path].split(" ", 1)[0] != hashlib.sha1(text.encode()).hexdigest()]
