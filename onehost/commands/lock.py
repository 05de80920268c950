"""The deploy lock: an atomic `mkdir` on the host, with a file saying who holds it.

    /data/deploy.lock/owner.json   {"who", "from", "pid", "started_at", "token"}

`mkdir` either creates the directory or fails, so two deploys can never both hold it.
A lock older than the TTL is taken to be left by a deploy that died (SIGKILL, a lost
connection) and is broken with a warning; `--data break_lock=true` breaks it at once.
Pure builders and parsing; the deploy files run them.
"""

import getpass
import json
import os
import platform
import shlex
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

OWNER_FILE = "owner.json"


class LockHeld(Exception):
    """Another deploy holds the lock; the message names it."""


@dataclass(frozen=True)
class LockOwner:
    who: str
    origin: str         # where the deploy runs from: machine, and the CI run when there is one
    pid: int
    started_at: str
    token: str          # only the holder releases the lock

    @classmethod
    def here(cls, environ=os.environ) -> "LockOwner":
        origin = platform.node()  # the host name, as socket.gethostname() gives it
        if environ.get("GITHUB_RUN_ID"):
            origin += f" (GitHub run {environ['GITHUB_RUN_ID']})"
        return cls(who=getpass.getuser(), origin=origin, pid=os.getpid(),
                   started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                   token=uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps({"who": self.who, "from": self.origin, "pid": self.pid,
                           "started_at": self.started_at, "token": self.token})


@dataclass(frozen=True)
class HeldLock:
    """What the host says about a lock that exists."""
    owner: dict
    age_seconds: int

    def describe(self) -> str:
        owner = self.owner
        return (f"{owner.get('who', '?')} from {owner.get('from', '?')} (pid {owner.get('pid', '?')}, "
                f"started {owner.get('started_at', '?')}, {format_age(self.age_seconds)} ago)")


def format_age(seconds: int) -> str:
    minutes, secs = divmod(max(seconds, 0), 60)
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def acquire(lock_dir: str, owner: LockOwner) -> list[str]:
    """Fails (non-zero) when the lock exists; otherwise creates it with the owner file."""
    owner_file = shlex.quote(f"{lock_dir}/{OWNER_FILE}")
    return ["sh", "-c", f"mkdir {shlex.quote(lock_dir)} && printf '%s\\n' \"$1\" > {owner_file}",
            "acquire-lock", owner.to_json()]


def inspect(lock_dir: str) -> list[str]:
    """Prints `<age seconds> <owner json>` when the lock exists, nothing otherwise."""
    lock, owner_file = shlex.quote(lock_dir), shlex.quote(f"{lock_dir}/{OWNER_FILE}")
    return ["sh", "-c", f"if [ -d {lock} ]; then echo \"$(( $(date +%s) - $(stat -c %Y {lock}) ))\" "
                        f"\"$(cat {owner_file} 2>/dev/null | tr -d '\\n')\"; fi"]


def parse_inspect(output: str) -> HeldLock | None:
    text = output.strip()
    if not text:
        return None
    age, _, owner_json = text.partition(" ")
    try:
        owner = json.loads(owner_json) if owner_json else {}
    except ValueError:
        owner = {}   # a deploy killed between mkdir and writing the owner file
    return HeldLock(owner=owner if isinstance(owner, dict) else {},
                    age_seconds=int(age) if age.lstrip("-").isdigit() else 0)


def release(lock_dir: str, owner: LockOwner) -> list[str]:
    """Removes the lock only while it is still ours (a broken-and-retaken lock is left alone)."""
    lock, owner_file = shlex.quote(lock_dir), shlex.quote(f"{lock_dir}/{OWNER_FILE}")
    return ["sh", "-c", f"if grep -qs {shlex.quote(owner.token)} {owner_file}; then rm -rf {lock}; fi"]


def break_lock(lock_dir: str) -> list[str]:
    return ["rm", "-rf", lock_dir]


def refusal(lock_dir: str, held: HeldLock, ttl_seconds: int) -> str:
    return (f"another deploy holds {lock_dir}: {held.describe()}. Wait for it to finish; the lock "
            f"counts as stale after {format_age(ttl_seconds)}, or break it now with "
            "--data break_lock=true if that deploy is gone")


def should_break(held: HeldLock, ttl_seconds: int, forced: bool) -> bool:
    return forced or held.age_seconds >= ttl_seconds


def take(lock_dir: str, owner: LockOwner, ttl_seconds: int, break_now: bool, try_command, run, say) -> None:
    """Take the lock with the host's commands: try_command returns (ok, output), run raises on
    failure. A lock held past its TTL (or with break_now) is broken with a warning; else LockHeld."""
    if try_command(acquire(lock_dir, owner))[0]:
        return
    held = parse_inspect(run(inspect(lock_dir)))
    if held is not None:          # None: released between our two commands
        if not should_break(held, ttl_seconds, break_now):
            raise LockHeld(refusal(lock_dir, held, ttl_seconds))
        why = "as asked" if break_now else "stale"
        say(f"warning: breaking the deploy lock ({why}) held by {held.describe()}")
        run(break_lock(lock_dir))
    run(acquire(lock_dir, owner))
