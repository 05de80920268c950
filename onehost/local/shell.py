"""Running local commands with progress lines and errors that say what failed."""

import subprocess
import sys
import time
from collections.abc import Sequence


class CommandFailed(RuntimeError):
    """A local command exited non-zero; the message holds its output tail."""


def progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(args: Sequence[str], *, input: bytes | None = None, capture: bool = False,
        check: bool = True, env: dict | None = None, cwd=None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a command given as an argument list; raise CommandFailed with its output on failure
    (and when it outlives `timeout` seconds: it is killed)."""
    try:
        result = subprocess.run(list(args), input=input, env=env, cwd=cwd, timeout=timeout,
                                stdout=subprocess.PIPE if capture else None,
                                stderr=subprocess.PIPE if capture else None)
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"command did not finish within {timeout} s: {' '.join(args)}") from None
    if check and result.returncode != 0:
        detail = ""
        if capture:
            tail = (result.stderr or b"").decode(errors="replace").strip().splitlines()[-15:]
            detail = "\n" + "\n".join(tail)
        raise CommandFailed(f"command failed ({result.returncode}): {' '.join(args)}{detail}")
    return result


def output(args: Sequence[str], **kwargs) -> str:
    return run(args, capture=True, **kwargs).stdout.decode().strip()


def timed(label: str):
    """Context manager printing a progress line with the seconds a step took."""
    class _Timed:
        def __enter__(self):
            progress(f"{label} ...")
            self.start = time.monotonic()
            return self

        def __exit__(self, exc_type, exc, tb):
            seconds = time.monotonic() - self.start
            state = "failed" if exc_type else "done"
            progress(f"{label}: {state} in {seconds:.1f}s")
            return False
    return _Timed()
