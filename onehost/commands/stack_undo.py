"""A compose stack changed in place (new image, new settings), undone when it does not come up healthy.

Before a deploy writes a stack's new files, the ones in place are copied beside them
(`<file>.previous`). `up --wait` then either succeeds, and the copies go, or fails: the stack's
last log lines are printed (they name the fault), the copies are put back, the previous stack is
started again and waited for, and the step fails saying what failed and that it was undone.

`docker compose up --wait` returns non-zero when a service is not running and healthy within
--wait-timeout (https://docs.docker.com/reference/cli/docker/compose/up/), and `up` recreates a
container whose configuration differs from the files, so the previous files bring back the
previous container configuration.
"""

import shlex

from onehost.commands import compose_commands

PREVIOUS_SUFFIX = ".previous"
# Enough of a failed stack's log to show why it stopped (a FATAL line, a bad setting).
FAILED_LOG_LINES = 30


def keep_previous(paths: list[str]) -> list[str]:
    """Copy each file that exists to `<file>.previous`, mode and owner kept (secrets stay 0600)."""
    return ["sh", "-c", f'for file do if [ -e "$file" ]; then cp -p "$file" "$file{PREVIOUS_SUFFIX}"; fi; done',
            "keep-previous", *paths]


def up_or_undo(project: str, compose_file: str, env_file: str | None, paths: list[str],
               wait_seconds: int) -> list[str]:
    """Start the stack from its new files; when it is not healthy in time, put `paths` back from
    their `.previous` copies and start the previous stack again. Fails (exit 1) either way the
    new stack did not come up, so the deploy stops before anything relies on it."""
    up = shlex.join(compose_commands.up(project, compose_file, env_file, wait_seconds))
    logs = shlex.join(compose_commands.compose(project, compose_file, env_file) +
                      ["logs", "--no-color", "--tail", str(FAILED_LOG_LINES)])
    files = " ".join(path.rsplit("/", 1)[-1] for path in paths)
    failed = (f"the new {project} stack did not become healthy within {wait_seconds}s "
              f"(its last log lines are above)")
    nothing_to_undo = f"{failed}; there is no previous {project} stack to go back to"
    undone = (f"{failed}. Undone: the previous {files} are back and the previous {project} stack is "
              "running and healthy. Fix the change (the image or its settings) and deploy again.")
    not_undone = (f"{failed}. The previous {files} are back, but the previous {project} stack did not "
                  f"become healthy either: see `docker compose --project-name {project} logs` on the host.")
    kept = f'"$file{PREVIOUS_SUFFIX}"'
    script = "; ".join([
        f"if {up}; then for file do rm -f {kept}; done; exit 0; fi",
        f"{logs} >&2",
        f'if [ ! -e "$1{PREVIOUS_SUFFIX}" ]; then echo {shlex.quote(nothing_to_undo)} >&2; exit 1; fi',
        f'for file do if [ -e {kept} ]; then mv -f {kept} "$file"; fi; done',
        f"if {up}; then echo {shlex.quote(undone)} >&2",
        f"else echo {shlex.quote(not_undone)} >&2; fi",
        "exit 1",
    ])
    return ["sh", "-c", script, "up-or-undo", *paths]
