"""The blue/green switch: put a release live without dropping a request, or undo it.

The app runs as two compose projects, `app-blue` and `app-green`, on the shared network.
nginx proxies to the container named in its `upstream.inc`. A switch:

 1. takes the deploy lock;
 2. starts the idle colour with the release and waits until Docker reports it healthy;
 3. checks /health/ on that colour directly (its address on the shared network);
 4. deploys only: when migrations are pending, dumps the database (`pg_dump -Fc`) into
    the backups directory, then migrates in a one-off container of the new image;
    rollbacks only: warns when the database holds migrations the release does not know;
 5. points upstream.inc at the new colour (atomic rename), `nginx -t`, `nginx -s reload`;
 6. checks /health/ through nginx, and switches back when that fails;
 7. points `current` and `previous`, lets the old colour drain, then stops it;
 8. appends a line to the history and releases the lock, whatever happened.

Any failure before step 5 stops the new colour and leaves the old one serving. The
commands are built by pure functions; `Switch` runs them through a `Runner`, which the
deploy files bind to the pyinfra connection (and the unit tests to a fake).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Protocol

from onehost import compose_commands as commands
from onehost import lock as deploy_lock

COLOURS = ("blue", "green")
# The long-lived stacks the switch works with: nginx reloads, PostgreSQL dumps.
EDGE_PROJECT, DATA_PROJECT = "edge", "data"
UPSTREAM_FILE = "upstream.inc"
# Printed by Django's `manage.py shell -c`: pending migrations of this code, and migrations the
# database has applied that this code does not know (a rollback past a migration).
MIGRATION_STATE = """
import json
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
executor = MigrationExecutor(connection)
loader = executor.loader
pending = [f"{m.app_label}.{m.name}" for m, _ in executor.migration_plan(loader.graph.leaf_nodes())]
unknown = sorted(f"{a}.{n}" for a, n in set(loader.applied_migrations) - set(loader.disk_migrations))
print("ONEHOST_MIGRATIONS " + json.dumps({"pending": pending, "unknown": unknown}))
""".strip()


def project(colour: str) -> str:
    return f"app-{colour}"


def container(colour: str) -> str:
    """Compose names the first container of service `app` in project app-<colour> this way."""
    return f"app-{colour}-app-1"


def other(colour: str) -> str:
    return COLOURS[1 - COLOURS.index(colour)]


def upstream_line(target: str, port: int) -> str:
    """upstream.inc's one line: nginx proxies to the container named `target`."""
    return f"set $app_upstream http://{target}:{port};\n"


def colour_in_upstream(text: str) -> str | None:
    for colour in COLOURS:
        if f"http://{container(colour)}:" in text:
            return colour
    return None


# --- command builders ---------------------------------------------------------------

def colour_compose(colour: str, release_dir: str) -> list[str]:
    return commands.compose(project(colour), f"{release_dir}/compose.yaml", f"{release_dir}/release.env")


def start_colour(colour: str, release_dir: str) -> list[str]:
    """Start (or recreate) the colour with the release; the switch then waits for its health."""
    return colour_compose(colour, release_dir) + ["up", "--detach", "--remove-orphans"]


def health_status(colour: str) -> list[str]:
    """`<state> <health>`, e.g. `running starting`, `running healthy`, `exited`."""
    return ["docker", "inspect", "--format",
            "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", container(colour)]


def stop_colour(colour: str, timeout_seconds: int) -> list[str]:
    """Stop and remove the colour's containers (SIGTERM, then `timeout_seconds` to finish).

    By project name alone, so it works whichever release the colour last ran; nothing is
    left holding an old image, so pruning can remove it.
    """
    return ["docker", "compose", "--project-name", project(colour), "down",
            "--timeout", str(timeout_seconds)]


def colour_logs(colour: str, lines: int = 15) -> list[str]:
    return ["docker", "logs", "--tail", str(lines), container(colour)]


def container_address(colour: str, network: str) -> list[str]:
    return ["docker", "inspect", "--format",
            "{{(index .NetworkSettings.Networks " + json.dumps(network) + ").IPAddress}}",
            container(colour)]


def migration_state(colour: str, release_dir: str) -> list[str]:
    """Asked of the running new colour (already healthy, so the database is reachable)."""
    return colour_compose(colour, release_dir) + [
        "exec", "-T", "app", "python", "manage.py", "shell", "--command", MIGRATION_STATE]


def parse_migration_state(output: str) -> dict | None:
    """{"pending": [...], "unknown": [...]} from MIGRATION_STATE's output, None when absent."""
    for line in output.splitlines():
        if line.startswith("ONEHOST_MIGRATIONS "):
            return json.loads(line.split(" ", 1)[1])
    return None


def migrate(colour: str, release_dir: str) -> list[str]:
    return commands.run_once(project(colour), f"{release_dir}/compose.yaml",
                             f"{release_dir}/release.env", "app",
                             "python", "manage.py", "migrate", "--noinput")


def write_upstream(conf_dir: str, target: str, port: int) -> list[str]:
    """Write beside, then rename: nginx never reads a half-written file."""
    final = f"{conf_dir}/{UPSTREAM_FILE}"
    partial = f"{final}.partial"
    return ["sh", "-c", f"printf '%s' \"$1\" > {shlex.quote(partial)} && "
                        f"mv -f {shlex.quote(partial)} {shlex.quote(final)}",
            "write-upstream", upstream_line(target, port)]


def nginx_shutting_down_workers() -> list[str]:
    """Counts nginx workers still finishing requests after a reload (the [n] keeps grep out)."""
    return ["sh", "-c", "grep -ls 'worker process is shutting dow[n]' /proc/[0-9]*/cmdline "
                        "2>/dev/null | wc -l"]


def pg_dump(data_stack_dir: str, db_user: str, db_name: str, dump_path: str) -> list[str]:
    """`pg_dump -Fc` of the app database into a 0600 file, complete or not there at all."""
    dump = commands.compose(DATA_PROJECT, f"{data_stack_dir}/compose.yaml", f"{data_stack_dir}/stack.env") + [
        "exec", "-T", "postgres", "pg_dump", "--format=custom", "--username", db_user, "--dbname", db_name]
    partial = f"{dump_path}.partial"
    directory = dump_path.rsplit("/", 1)[0]
    return ["sh", "-c", f"umask 077 && mkdir -p {shlex.quote(directory)} && "
                        f"{shlex.join(dump)} > {shlex.quote(partial)} && "
                        f"mv {shlex.quote(partial)} {shlex.quote(dump_path)}"]


def point_link(link: str, target: str) -> list[str]:
    """ln -sfn onto a temporary name, then rename over the link: atomic."""
    partial = f"{link}.partial"
    return ["sh", "-c", f"ln -sfn {shlex.quote(target)} {shlex.quote(partial)} && "
                        f"mv -Tf {shlex.quote(partial)} {shlex.quote(link)}"]


def append_history(history_file: str, entry: dict) -> list[str]:
    return ["sh", "-c", f"printf '%s\\n' \"$1\" >> {shlex.quote(history_file)}",
            "append-history", json.dumps(entry, sort_keys=True)]


def image_digest(image: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{join .RepoDigests \" \"}}", image]


# --- running them ---------------------------------------------------------------------

RUNTIME_CREATE_FAILED = "OCI runtime create failed"


class CommandError(Exception):
    """A host command failed; the message is the end of its output."""

    def __init__(self, command: list[str], output: str):
        super().__init__(last_lines(output))
        self.command = command
        self.output = output


class SwitchFailed(Exception):
    """One line: what failed, and which release is serving now."""


class Runner(Protocol):
    def __call__(self, command: list[str]) -> tuple[bool, str]: ...


def summarize(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def last_lines(output: str, count: int = 2) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no output"


@dataclass(frozen=True)
class HostLayout:
    data_dir: str
    network: str
    app_port: int
    server_name: str
    tls: bool = False

    @property
    def releases(self) -> str:
        return f"{self.data_dir}/releases"

    @property
    def lock_dir(self) -> str:
        return f"{self.data_dir}/deploy.lock"

    @property
    def history_file(self) -> str:
        return f"{self.data_dir}/history.jsonl"

    @property
    def backups(self) -> str:
        return f"{self.data_dir}/backups"

    @property
    def edge_dir(self) -> str:
        return f"{self.data_dir}/stacks/{EDGE_PROJECT}"

    @property
    def data_stack_dir(self) -> str:
        return f"{self.data_dir}/stacks/{DATA_PROJECT}"


@dataclass(frozen=True)
class SwitchPlan:
    action: str                   # "deploy" or "rollback"
    release_id: str
    release_dir: str
    live_colour: str | None       # the colour nginx sends traffic to now (None: nothing live)
    replaces: str | None          # the release directory `current` points at now
    image: str                    # as the user named it
    host_image: str               # what compose runs on the host (pinned by id when shipped)
    image_id: str | None
    git_commit: str | None
    layout: HostLayout
    db_user: str
    db_name: str
    health_timeout_seconds: int = 120
    drain_seconds: int = 30
    lock_ttl_seconds: int = 900
    break_lock: bool = False

    @property
    def idle_colour(self) -> str:
        return other(self.live_colour) if self.live_colour else COLOURS[0]

    @property
    def migrates(self) -> bool:
        return self.action == "deploy"


@dataclass
class Switch:
    plan: SwitchPlan
    run_command: Runner
    say: Callable[[str], None] = print
    owner: deploy_lock.LockOwner = field(default_factory=deploy_lock.LockOwner.here)
    clock: Callable[[], float] = time.monotonic
    pause: Callable[[float], None] = time.sleep
    pre_migration_dump: str | None = None

    # -- plumbing ------------------------------------------------------------------
    def run(self, command: list[str]) -> str:
        ok, output = self.run_command(command)
        if not ok:
            raise CommandError(command, output)
        return output

    def phase(self, title: str, step: Callable[[], object]):
        started = self.clock()
        result = step()
        self.say(f"{title}: {self.clock() - started:.1f} s")
        return result

    def poll(self, check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
        deadline = self.clock() + timeout
        while True:
            if check():
                return True
            if self.clock() >= deadline:
                return False
            self.pause(interval)

    def still_serving(self) -> str:
        if self.plan.live_colour is None:
            return "nothing was serving before, and nothing is now"
        replaced = (self.plan.replaces or "").rsplit("/", 1)[-1] or "the previous release"
        return f"{replaced} ({self.plan.live_colour}) is still serving"

    # -- the lock ----------------------------------------------------------------------
    def take_lock(self) -> None:
        deploy_lock.take(self.plan.layout.lock_dir, self.owner, self.plan.lock_ttl_seconds, self.plan.break_lock,
                         self.run_command, self.run, self.say)

    def release_lock(self) -> None:
        self.run_command(deploy_lock.release(self.plan.layout.lock_dir, self.owner))

    # -- steps -------------------------------------------------------------------------
    def start_idle(self) -> None:
        colour, timeout = self.plan.idle_colour, self.plan.health_timeout_seconds
        self.create_idle(colour)
        status = ""

        def healthy() -> bool:
            nonlocal status
            status = self.run(health_status(colour)).strip()
            if status.split(" ")[0] in ("exited", "dead"):
                raise CommandError(health_status(colour), f"{container(colour)} {status}")
            return status == "running healthy"

        if not self.poll(healthy, timeout=timeout, interval=0.5):
            raise CommandError(health_status(colour), f"{container(colour)} not healthy within "
                                                      f"{timeout} s (Docker says: {status or 'nothing'})")

    def create_idle(self, colour: str) -> None:
        """`compose up` for the idle colour, once more if the runtime failed to create its process.

        runc's "read init-p: connection reset by peer" means its init process died before the
        app ran (a transient the runtime reports as "OCI runtime create failed": opencontainers/runc
        #2662, concourse/concourse#6180). Nothing of the release has run and the live colour still
        serves, so a second `up` is safe; an error from the app itself is not retried.
        """
        try:
            self.run(start_colour(colour, self.plan.release_dir))
        except CommandError as failure:
            if RUNTIME_CREATE_FAILED not in failure.output:
                raise
            self.say(f"the container runtime failed to create {container(colour)} ({failure}); "
                     "trying once more")
            self.run(start_colour(colour, self.plan.release_dir))

    def check_direct(self) -> None:
        layout = self.plan.layout
        address = self.run(container_address(self.plan.idle_colour, layout.network)).strip()
        url = f"http://{address}:{layout.app_port}/health/"
        self.run(commands.health_check(url, layout.server_name, attempts=10))

    def migrate(self) -> None:
        plan = self.plan
        state = self.migration_state()
        if not state["pending"]:
            self.say("migrations: none pending")
            return
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        dump = f"{plan.layout.backups}/pre-migrate-{plan.release_id}-{stamp}.dump"
        self.run(pg_dump(plan.layout.data_stack_dir, plan.db_user, plan.db_name, dump))
        self.pre_migration_dump = dump
        self.say(f"migrations pending: {summarize(state['pending'])}; database dumped to {dump}")
        self.run(migrate(plan.idle_colour, plan.release_dir))

    def warn_unknown_migrations(self) -> None:
        unknown = self.migration_state()["unknown"]
        if unknown:
            self.say(f"warning: the database has migrations release {self.plan.release_id} does not "
                     f"know ({summarize(unknown)}); it keeps the newer schema, so this release must "
                     "work with it (expand, then contract)")

    def migration_state(self) -> dict:
        output = self.run(migration_state(self.plan.idle_colour, self.plan.release_dir))
        state = parse_migration_state(output)
        if state is None:
            raise CommandError(["manage.py", "shell"], f"no migration state in: {output}")
        return state

    def upstream_for(self, colour: str) -> list[str]:
        layout = self.plan.layout
        return write_upstream(f"{layout.edge_dir}/conf.d", container(colour), layout.app_port)

    def reload_nginx(self) -> list[str]:
        edge = self.plan.layout.edge_dir
        return commands.reload_nginx(EDGE_PROJECT, f"{edge}/compose.yaml", f"{edge}/stack.env")

    def point_nginx_at(self, colour: str) -> None:
        self.run(self.upstream_for(colour))
        self.run(self.reload_nginx())

    def check_through_nginx(self) -> None:
        layout = self.plan.layout
        self.run(commands.edge_health_check(layout.server_name, layout.tls, attempts=5))

    def point_links(self) -> None:
        plan = self.plan
        if plan.replaces and plan.replaces != plan.release_dir:
            self.run(point_link(f"{plan.layout.releases}/previous", plan.replaces))
        self.run(point_link(f"{plan.layout.releases}/current", plan.release_dir))

    def drain_old(self) -> None:
        """In-flight requests finish on the old nginx workers, then Gunicorn stops gracefully."""
        drained = self.poll(lambda: self.run(nginx_shutting_down_workers()).strip() == "0",
                            timeout=self.plan.drain_seconds)
        if not drained:
            self.say(f"warning: nginx still had requests in flight after {self.plan.drain_seconds} s")
        self.run(stop_colour(self.plan.live_colour, self.plan.drain_seconds))

    def stop_idle(self) -> None:
        """The new colour goes; its last log lines stay in the deploy's output."""
        ok, logs = self.run_command(colour_logs(self.plan.idle_colour))
        if ok and logs.strip():
            self.say(f"last lines of {container(self.plan.idle_colour)}:\n{logs.rstrip()}")
        self.run_command(stop_colour(self.plan.idle_colour, 10))

    # -- the whole switch --------------------------------------------------------------
    def execute(self) -> None:
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        started = self.clock()
        self.phase("lock", self.take_lock)
        error: str | None = None
        try:
            self.go_live()
        except Exception as failure:
            error = str(failure) or type(failure).__name__
            raise
        finally:
            self.record(started_at, self.clock() - started, error)
            self.release_lock()

    def go_live(self) -> None:
        plan, idle = self.plan, self.plan.idle_colour
        self.before_switch(f"start {idle} with {plan.release_id} and wait until healthy", self.start_idle)
        self.before_switch(f"check /health/ on {idle} directly", self.check_direct)
        if plan.migrates:
            self.before_switch("migrations", self.migrate)
        else:
            self.before_switch("check migrations", self.warn_unknown_migrations)
        self.before_switch(f"switch nginx to {idle}", lambda: self.point_nginx_at(idle))
        try:
            self.phase("check /health/ through nginx", self.check_through_nginx)
        except CommandError as failure:
            self.switch_back()
            raise SwitchFailed(f"{plan.action} of {plan.release_id} failed the check through nginx "
                               f"after the switch ({failure}); switched back: {self.still_serving()}"
                               ) from None
        self.phase("point current and previous", self.point_links)
        if plan.live_colour:
            self.phase(f"drain and stop {plan.live_colour}", self.drain_old)

    def before_switch(self, title: str, step: Callable[[], object]) -> None:
        try:
            self.phase(title, step)
        except CommandError as failure:
            self.stop_idle()
            if self.plan.live_colour:       # a failed reload may have left the new colour's file
                self.run_command(self.upstream_for(self.plan.live_colour))
            dump = f" (pre-migration dump: {self.pre_migration_dump})" if self.pre_migration_dump else ""
            raise SwitchFailed(f"{self.plan.action} of {self.plan.release_id} failed at '{title}': "
                               f"{failure}{dump}; {self.still_serving()}") from None

    def switch_back(self) -> None:
        if self.plan.live_colour:
            self.run_command(self.upstream_for(self.plan.live_colour))
            self.run_command(self.reload_nginx())
        self.stop_idle()

    def record(self, started_at: str, seconds: float, error: str | None) -> None:
        plan = self.plan
        ok, digests = self.run_command(image_digest(plan.host_image))
        entry = {
            "action": plan.action,
            "release": plan.release_id,
            "image": plan.image,
            "host_image": plan.host_image,
            "image_id": plan.image_id,
            "image_digest": (digests.split() or [None])[0] if ok else None,
            "git_commit": plan.git_commit,
            "who": f"{self.owner.who}@{self.owner.origin}",
            "started_at": started_at,
            "result": "failed" if error else "ok",
            "error": error,
            "seconds": round(seconds, 1),
            "colour": plan.idle_colour,
            "pre_migration_dump": self.pre_migration_dump,
        }
        self.run_command(append_history(plan.layout.history_file, entry))
