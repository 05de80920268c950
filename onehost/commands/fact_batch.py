"""Many facts in one round trip: their commands run side by side in one shell, each one's
exit status and stdout printed on one marked line (stdout base64-encoded, so any output fits),
and split again here into what each fact would have read alone.

A deploy asks about thirty questions while it plans (is the lock held, which colour is live,
which images are there, ...); asked one by one over SSH they cost a round trip each, and run one
after another they cost a Docker CLI start each (about 50 ms); side by side, the batch takes
about as long as its slowest question. None of them changes the host."""

import base64
import io
from collections.abc import Iterable, Sequence

MARKER = "@@onehost-fact"

# Each command runs in the background, its stdout and exit status into files of a temporary
# directory (its stderr is dropped, as a fact's is not read when it succeeds); once all are
# done, one line each, in order: `@@onehost-fact <index> <exit status> <stdout as base64>`.
_START = '{{ ( {command} ) >"$dir/{index}" 2>/dev/null; echo $? >"$dir/{index}.status"; }} &'
_PRINT = ('printf "%s %s %s %s\\n" {marker} {index} "$(cat "$dir/{index}.status")" '
          '"$(base64 -w0 < "$dir/{index}")"')


def batch_command(commands: Sequence[str]) -> str:
    """One shell command that runs every command and marks its output."""
    started = [_START.format(command=command, index=index) for index, command in enumerate(commands)]
    printed = [_PRINT.format(marker=MARKER, index=index) for index in range(len(commands))]
    return " ".join(['dir=$(mktemp -d) || exit 1;', *started, "wait;", "; ".join(printed) + ";",
                     'rm -rf "$dir"'])


def parse_batch(lines: Iterable[str], count: int) -> list[tuple[int, list[str]] | None]:
    """(exit status, stdout lines) for each of `count` commands, in order; None for one the
    output does not answer (the shell stopped early). Lines are split as pyinfra splits them."""
    answers: list[tuple[int, list[str]] | None] = [None] * count
    for line in lines:
        parts = line.split(" ")
        if len(parts) < 3 or parts[0] != MARKER or not parts[1].isdigit() or int(parts[1]) >= count:
            continue
        encoded = parts[3] if len(parts) > 3 else ""
        text = base64.b64decode(encoded).decode("utf-8", errors="replace")
        answers[int(parts[1])] = (int(parts[2]), [line.rstrip("\n") for line in io.StringIO(text)])
    return answers
