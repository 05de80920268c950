"""What the switch and the SQLite import share: commands on one host through a `Runner`, each
failure raised with its output, under the deploy lock (onehost/commands/lock.py)."""

from __future__ import annotations

import shlex

from onehost.commands import lock as deploy_lock
from onehost.commands.switch import CommandError


class LockedHostRun:
    """A mixin for a dataclass with `plan` (its `layout.lock_dir`, `lock_ttl_seconds` and
    `break_lock`), `run_command`, `say` and `owner`."""

    def run(self, command: list[str]) -> str:
        ok, output = self.run_command(command)
        if not ok:
            raise CommandError(command, output)
        return output

    def take_lock(self) -> None:
        deploy_lock.take(self.plan.layout.lock_dir, self.owner, self.plan.lock_ttl_seconds, self.plan.break_lock,
                         self.run_command, self.run, self.say)

    def release_lock(self, after: list[str] | None = None) -> None:
        """Release the lock; `after`: a last command to run under it first, in the same round
        trip (the lock is released whatever that command does)."""
        release = deploy_lock.release(self.plan.layout.lock_dir, self.owner)
        self.run_command(["sh", "-c", f"{shlex.join(after)}; {shlex.join(release)}"] if after else release)
