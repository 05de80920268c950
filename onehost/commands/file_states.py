"""Many files on a host compared in one round trip: their SHA-1, mode and owner from one command,
against what a deploy would write. pyinfra's files.put asks three facts per file (the file,
its directory, its SHA-1); a stack's files checked this way cost one."""

import base64
import hashlib
from collections.abc import Iterable, Sequence

# Secrets and the user's data: readable by root alone.
PRIVATE_MODE = "600"

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
    return file_state(hashlib.sha1(text.encode()).hexdigest(), mode, owner)


def file_state(sha1: str, mode: str, owner: str = "root:root") -> str:
    return f"{sha1} {stat_mode(mode)} {owner}"


def stat_mode(mode: str) -> str:
    """A mode as `stat -c %a` prints it: "0644" -> "644", "1777" -> "1777"."""
    return f"{int(mode, 8):o}"


def stale(texts: dict[str, str], states: dict[str, str], mode: str, private: Sequence[str] = ()) -> list[str]:
    """The paths whose file is missing or differs in content, mode or owner (root:root; PRIVATE_MODE
    for the `private` ones), in the given order."""
    return [path for path, text in texts.items()
            if states.get(path) != wanted_state(text, PRIVATE_MODE if path in private else mode)]


def changed_content(texts: dict[str, str], states: dict[str, str]) -> list[str]:
    """The paths that exist and hold other content (what a stack's undo must keep a copy of)."""
    return [path for path, text in texts.items()
            if path in states and states[path].split(" ", 1)[0] != hashlib.sha1(text.encode()).hexdigest()]


# One command writes every file whose text fits on a command line (Linux takes 128 KiB per
# argument: MAX_ARG_STRLEN, execve(2)): each decoded beside its path, given its owner and mode,
# then renamed over it, so a reader sees the old file or the new one, never half of one.
WRITE_SCRIPT = ('mode=$1; shift; while [ "$#" -gt 1 ]; do '
                'printf %s "$2" | base64 -d > "$1.onehost-new" && chown root:root "$1.onehost-new" '
                '&& chmod "$mode" "$1.onehost-new" && mv -f "$1.onehost-new" "$1" || exit 1; shift 2; done')
INLINE_LIMIT = 64 * 1024


def fits_inline(text: str) -> bool:
    return len(text.encode()) <= INLINE_LIMIT


def write_texts_command(texts: dict[str, str], mode: str) -> list[str]:
    """Write each path's text (not secrets: the text is on the command line), root:root `mode`."""
    arguments = []
    for path, text in texts.items():
        arguments += [path, base64.b64encode(text.encode()).decode()]
    return ["sh", "-c", WRITE_SCRIPT, "write-texts", mode, *arguments]


# A file the host already holds elsewhere (a secret of the release before: the same app.env) is
# copied there rather than sent: under umask 077 (cp makes the new file with the source's mode
# less the umask, so no one else can read it at any moment), checked against the SHA-1 it must
# have, given its owner and mode, then renamed over its path. Arguments: path, source, SHA-1, mode.
COPY_SCRIPT = ('umask 077; while [ "$#" -gt 3 ]; do '
               'cp "$2" "$1.onehost-new" && [ "$(sha1sum < "$1.onehost-new" | cut -c1-40)" = "$3" ] '
               '&& chown root:root "$1.onehost-new" && chmod "$4" "$1.onehost-new" && mv -f "$1.onehost-new" "$1" '
               '|| { rm -f "$1.onehost-new"; echo "$2 changed while the deploy ran: run it again" >&2; exit 1; }; '
               'shift 4; done')


def copy_texts_command(copies: dict[str, tuple[str, str, str]]) -> list[str]:
    """{path: (source on the host, the text both hold, mode)}: each path made a copy of its source."""
    arguments = []
    for path, (source, text, mode) in copies.items():
        arguments += [path, source, hashlib.sha1(text.encode()).hexdigest(), mode]
    return ["sh", "-c", COPY_SCRIPT, "copy-texts", *arguments]


def copyable(text: str, source: str, states: dict[str, str]) -> bool:
    """The host holds `text` at `source` already (by its SHA-1 in `states`)."""
    return states.get(source, "").split(" ", 1)[0] == hashlib.sha1(text.encode()).hexdigest()


# Directories: `<mode> <path>` for each that exists (mode as stat prints it: 755, 1777).
DIRECTORY_SCRIPT = 'for path; do if [ -d "$path" ]; then stat -c "%a %n" "$path"; fi; done'


def directory_modes_command(paths: Sequence[str]) -> list[str]:
    return ["sh", "-c", DIRECTORY_SCRIPT, "directory-modes", *paths]


def parse_directory_modes(lines: Iterable[str]) -> dict[str, str]:
    modes = {}
    for line in lines:
        parts = line.strip().split(" ", 1)
        if len(parts) == 2:
            modes[parts[1]] = parts[0]
    return modes


def directories_to_make(wanted: dict[str, str], modes: dict[str, str]) -> list[str]:
    """The directories (path: mode, e.g. "1777") missing or of another mode, in the given order."""
    return [path for path, mode in wanted.items() if modes.get(path) != stat_mode(mode)]


def make_directories(wanted: dict[str, str], paths: Sequence[str]) -> list[list[str]]:
    """`mkdir -p` of `paths` (parents as mkdir makes them), then each given its mode."""
    commands = [["mkdir", "-p", *paths]]
    for mode in dict.fromkeys(wanted[path] for path in paths):
        commands.append(["chmod", mode, *[path for path in paths if wanted[path] == mode]])
    return commands
