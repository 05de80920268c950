"""Running a log script (onehost/commands/logs.py) on a host and handing its lines over one by one;
asking a host which processes and broker it runs."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from onehost.commands import logs
from onehost.remote.session import HostSession

# prctl(2): PR_SET_PDEATHSIG, "the signal that the calling process will get when its parent dies".
PR_SET_PDEATHSIG = 1


def _end_with_parent(parent_pid: int) -> Callable[[], None]:
    """For the ssh client: SIGTERM when this process dies, however it dies (a SIGKILL included),
    so the connection closes and the host's script stops its followers (prctl(2), Linux only)."""
    def arrange() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:     # the parent died before the line above
            os._exit(1)
    return arrange


def _exit_on_terminate(signum, frame):
    raise SystemExit(128 + signum)


def each_line(session: HostSession, script: str, handle: Callable[[str], None]) -> int:
    """Runs the script on the host, calls `handle` with each line of its stdout (newline removed,
    undecodable bytes replaced) as it arrives, and returns the script's exit code (ssh's 255 when
    the host cannot be reached). Its stderr (a one-line error) goes to this process's stderr.
    The ssh client ends with this call, whatever ends it: SIGTERM and Ctrl-C included."""
    previous = signal.signal(signal.SIGTERM, _exit_on_terminate)
    client = subprocess.Popen(session.command(script), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              preexec_fn=_end_with_parent(os.getpid()))
    try:
        for raw in client.stdout:
            handle(raw.decode(errors="replace").rstrip("\r\n"))
        return client.wait()
    finally:
        if client.poll() is None:
            client.terminate()
            try:
                client.wait(timeout=5)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()
        client.stdout.close()
        signal.signal(signal.SIGTERM, previous)


def known_on_host(session: HostSession) -> logs.KnownLogs:
    """The processes and broker the host's containers say it runs (for a CLI without onehost.toml)."""
    return logs.known_from_host(session.output(logs.known_on_host_script(), timeout=60))
