"""Compose stacks on the host: files in place, then `up --wait` only when something changed."""

import shlex
from io import BytesIO, StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation
from pyinfra.operations import files, server

from deploy.facts import ComposeServiceStates, FileStates, asked_while_planning
from deploy.lib import private_upload
from deploy.settings import settings
from onehost.commands import compose_commands as commands
from onehost.commands import file_states, stack_undo


def put_text(name: str, text: str, dest: str, mode: str = "644"):
    return files.put(name=name, src=StringIO(text), dest=dest, user="root", group="root", mode=mode)


@operation()
def put_texts(texts: dict[str, str], mode: str = "644", private: tuple[str, ...] = (),
              before: dict[str, str] | None = None, same_as: dict[str, str] | None = None):
    """Each path holds its text, root:root with `mode` (the `private` ones 600, put there as
    private_upload does): all of them compared by one fact (one round trip), and only the files
    that differ written, the others in one command. Their directories exist already.
    `before`: the files' states asked while planning (FileStates of these paths, or more), when
    no earlier operation of the deploy writes them; without it the operation asks as it runs.
    `same_as`: {path: another file on the host that may hold the same text}: when `before` says
    it does, that file is copied instead of the text sent (a release's app.env, the same as the
    release before's)."""
    states = host.get_fact(FileStates, paths=tuple(texts)) if before is None else before
    outdated = file_states.stale(texts, states, mode, private)
    if not outdated:
        host.noop(f"{len(texts)} file(s) up to date")
        return
    if host.state.config.DIFF:
        for path in outdated:
            shown = " (private: its contents are not shown)" if path in private else ""
            host.log(f"Will {'modify' if path in states else 'create'} {path}{shown}")
    copies = {path: (source, texts[path], file_states.PRIVATE_MODE if path in private else mode)
              for path, source in (same_as or {}).items()
              if path in outdated and file_states.copyable(texts[path], source, states)}
    inline = {path: texts[path] for path in outdated
              if path not in private and path not in copies and file_states.fits_inline(texts[path])}
    written = ([file_states.write_texts_command(inline, mode)] if inline else []) + \
        ([file_states.copy_texts_command(copies)] if copies else [])
    if written:
        yield " && ".join(shlex.join(command) for command in written)
    for path in outdated:
        if path in copies:
            continue
        if path in private:
            yield from private_upload.upload_private(BytesIO(texts[path].encode()), path)
        elif path not in inline:
            yield FileUploadCommand(StringIO(texts[path]), path, remote_temp_filename=host.get_temp_filename(path))
            yield shlex.join(["chown", "root:root", path])
            yield shlex.join(["chmod", mode, path])


def write_texts(name: str, texts: dict[str, str], before: dict[str, str], mode: str = "644",
                private: tuple[str, ...] = (), same_as: dict[str, str] | None = None) -> list:
    """put_texts for files whose state was asked while planning (`before`): when all of them are
    up to date that is known now, and no operation is made (each costs pyinfra's own work as it
    runs, even when it does nothing). The operation made, or none."""
    if not file_states.stale(texts, before, mode, private):
        host.noop(f"{name}: {len(texts)} file(s) up to date")
        return []
    return [put_texts(name=name, texts=texts, mode=mode, private=private, before=before, same_as=same_as)]


def all_running(project: str, services: tuple[str, ...]) -> bool:
    states = asked_while_planning(ComposeServiceStates, project=project)
    return all(states.get(service) == "running" for service in services)


def converge(project: str, compose_file: str, env_file: str, services: tuple[str, ...], changes) -> list:
    """Bring the stack up (waiting for health) when its files changed or it is not running. The
    operation made, or none when the stack runs and no operation could change its files."""
    running = all_running(project, services)
    if running and not changes:
        host.noop(f"the {project} stack runs, its files unchanged")
        return []
    return [server.shell(
        name=f"Start the {project} stack and wait until it is healthy",
        commands=[commands.shell(commands.up(project, compose_file, env_file,
                                             settings().deploy.health_timeout_seconds))],
        _if=lambda: not running or any(op.did_change() for op in changes),
    )]


def keep_changing_files(name: str, new_texts: dict[str, str], before: dict[str, str]) -> None:
    """Copy a stack's files in place to `<file>.previous` when this deploy changes any of them, so
    converge_or_undo can put them back: `before` (the files as they were, asked while planning)
    against what the deploy writes. No operation when nothing changes."""
    if not file_states.changed_content(new_texts, before):
        host.noop(f"{name}: the stack's files are new or unchanged, nothing to keep")
        return
    server.shell(name=name, commands=[shlex.join(stack_undo.keep_previous(list(new_texts)))])


def converge_or_undo(project: str, compose_file: str, env_file: str, services: tuple[str, ...], changes,
                     kept_files: list[str]) -> list:
    """converge, except that a stack that does not come up healthy is undone: its kept files
    (keep_changing_files) are put back and the previous stack started again; the step fails."""
    running = all_running(project, services)
    if running and not changes:
        host.noop(f"the {project} stack runs, its files unchanged")
        return []
    return [server.shell(
        name=f"Start the {project} stack and wait until it is healthy (undone if it is not)",
        commands=[commands.shell(stack_undo.up_or_undo(project, compose_file, env_file, kept_files,
                                                       settings().deploy.health_timeout_seconds))],
        _if=lambda: not running or any(op.did_change() for op in changes),
    )]
