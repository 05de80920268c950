"""Many facts in one round trip: their commands run one after another in one shell, each one's
exit status and stdout printed on one marked line (stdout base64-encoded, so any output fits),
and split again here into what each fact would have read alone.

A deploy asks about twenty questions while it plans (is the lock held, which colour is live,
which images are there, ...); asked one by one over SSH they cost a round trip each."""

import base64
import io
from collections.abc import Iterable, Sequence

MARKER = "@@onehost-fact"

# Each command's stdout goes to a temporary file (its stderr is dropped, as a fact's is not read
# when it succeeds), then one line: `@@onehost-fact <index> <exit status> <stdout as base64>`.
_EACH = ('( {command} ) >"$out" 2>/dev/null; status=$?; '
         'printf "%s %s %s %s\\n" {marker} {index} "$status" "$(base64 -w0 < "$out")"')


def batch_command(commands: Sequence[str]) -> str:
    """One shell command that runs every command and marks its output."""
    steps = [_EACH.format(command=command, marker=MARKER, index=index) for index, command in enumerate(commands)]
    return "; ".join(['out=$(mktemp) || exit 1', *steps, 'rm -f "$out"'])


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
