"""Running a one-off script (onehost/commands/one_off.py) attached to this process's terminal or pipes."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import NoReturn

from onehost.commands import lock as deploy_lock
from onehost.commands.host_defaults import LOCK_TTL_SECONDS
from onehost.commands.live import NO_RELEASE_EXIT, require_release
from onehost.commands.switch import HostLayout
from onehost.local.shell import CommandFailed
from onehost.remote.session import HostSession


def attached_to_terminal() -> bool:
    """Interactive only when both ends a person uses are a terminal; otherwise plain pipes, so
    `onehost run -- ... > out.txt` and CI get the command's bytes and no terminal codes."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def attach(session: HostSession, script: str, *, terminal: bool) -> NoReturn:
    """Becomes the ssh client running the script: stdin, stdout, stderr and the exit code are the
    command's, and whatever ends this process ends the ssh session, which the script's watcher
    sees on the host."""
    arguments = session.command(script, terminal=terminal)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(arguments[0], arguments)
    except OSError as error:
        raise CommandFailed(f"cannot start {arguments[0]}: {error.strerror}; install the OpenSSH client") from None


def attach_holding_lock(session: HostSession, layout: HostLayout,
                        script_for: Callable[[deploy_lock.LockOwner], str], *, terminal: bool,
                        say: Callable[[str], None]) -> int:
    """The script with the deploy lock held: taken here the way a deploy takes it (a stale lock
    is broken with a warning, a held one refused naming its holder), released by the host when
    the script ends or its session goes, and once more here (only while it is still ours)."""
    check = session.run(require_release(layout, session.name), capture=True, check=False)
    if check.returncode:
        sys.stderr.write(check.stderr.decode(errors="replace"))
        return check.returncode if check.returncode == NO_RELEASE_EXIT else 1

    def try_command(command: list[str]) -> tuple[bool, str]:
        result = session.run(shlex.join(command), capture=True, check=False)
        return result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")

    owner = deploy_lock.LockOwner.here()
    deploy_lock.take(layout.lock_dir, owner, LOCK_TTL_SECONDS, False, try_command,
                     lambda command: session.output(shlex.join(command)), say)
    try:
        return subprocess.call(session.command(script_for(owner), terminal=terminal))
    finally:
        try_command(deploy_lock.release(layout.lock_dir, owner))
