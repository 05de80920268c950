"""Running the blue/green switch (onehost/commands/switch.py says what it does, step by step):
`Switch` runs the builders' commands through a `Runner`, which the deploy files bind to the
pyinfra connection (and the unit tests to a fake)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from onehost.commands import compose_commands as commands
from onehost.commands import lock as deploy_lock
from onehost.commands.switch import (
    DIRECTIVE_CHANGED,
    EDGE_PROJECT,
    RUNTIME_CREATE_FAILED,
    Answered,
    CommandError,
    Runner,
    SwitchFailed,
    SwitchPlan,
    append_history,
    colour_logs,
    container,
    container_address,
    migrate,
    migration_state,
    nginx_shutting_down_workers,
    one_after_another,
    parse_answered,
    parse_migration_state,
    pg_dump,
    point_link,
    point_live_socket,
    replace_upstream,
    retire_colour,
    socket_health_check,
    socket_name,
    socket_upstream,
    start_colour,
    stop_colour,
    summarize,
    upstream_line,
    wait_until_answers,
)
from onehost.remote.host_run import LockedHostRun

# How much longer than drain_seconds a start waits for the colour's retire: the containers'
# removal after their stop.
RETIRE_MARGIN_SECONDS = 60
RETIRE_LOG = "retire.log"   # in the release the retired colour ran


@dataclass
class Switch(LockedHostRun):
    plan: SwitchPlan
    run_command: Runner
    say: Callable[[str], None] = print
    owner: deploy_lock.LockOwner = field(default_factory=deploy_lock.LockOwner.here)
    clock: Callable[[], float] = time.monotonic
    pause: Callable[[float], None] = time.sleep
    pre_migration_dump: str | None = None
    answered: Answered | None = None    # how the new colour answered, once it has
    reloaded_nginx: bool = False        # the switch reloaded nginx: its old workers may still send to the old colour

    # -- plumbing ------------------------------------------------------------------
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

    # -- steps -------------------------------------------------------------------------
    def start_idle(self) -> None:
        """Start the idle colour, then wait on the host until it answers (its migration state
        asked meanwhile): the wait ends as soon as the app does, not at Docker's next probe."""
        plan, colour = self.plan, self.plan.idle_colour
        self.create_idle(colour)
        wait = wait_until_answers(colour, plan.layout.sockets_dir, plan.layout.server_name,
                                  plan.health_timeout_seconds)
        output = self.run(wait)
        self.answered = parse_answered(output)
        if self.answered is None:
            raise CommandError(wait, f"no answer from the wait on {container(colour)}: {output}")

    def create_idle(self, colour: str) -> None:
        """`compose up` for the idle colour, once more if the runtime failed to create its process.

        runc's "read init-p: connection reset by peer" means its init process died before the
        app ran (a transient the runtime reports as "OCI runtime create failed": opencontainers/runc
        #2662, concourse/concourse#6180). Nothing of the release has run and the live colour still
        serves, so a second `up` is safe; an error from the app itself is not retried.
        """
        try:
            self.run(self.start_command(colour))
        except CommandError as failure:
            if RUNTIME_CREATE_FAILED not in failure.output:
                raise
            self.say(f"the container runtime failed to create {container(colour)} ({failure}); "
                     "trying once more")
            self.run(self.start_command(colour))

    def start_command(self, colour: str) -> list[str]:
        return start_colour(colour, self.plan.release_dir, self.plan.drain_seconds + RETIRE_MARGIN_SECONDS)

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
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
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
        """The state the colour printed while it started; asked again (as it answers now) when
        that query failed, e.g. because it ran before the database or the app was ready."""
        answered, idle = self.answered, self.plan.idle_colour
        if answered and answered.migration_state is not None:
            return answered.migration_state
        if answered:
            self.say(f"the migration state asked while {idle} started is missing "
                     f"({answered.migration_query}); asking again")
        output = self.run(migration_state(idle, self.plan.release_dir))
        state = parse_migration_state(output)
        if state is None:
            raise CommandError(["manage.py", "shell"], f"no migration state in: {output}")
        return state

    def reload_nginx(self) -> list[str]:
        edge = self.plan.layout.edge_dir
        return commands.reload_nginx(EDGE_PROJECT, f"{edge}/compose.yaml", f"{edge}/stack.env")

    def has_socket(self, colour: str) -> bool:
        """The colour answers /health/ on its Unix socket (releases from before the socket layout
        have none)."""
        layout = self.plan.layout
        ok, _ = self.run_command(socket_health_check(layout.sockets_dir, colour, layout.server_name))
        return ok

    def point_nginx_at(self, colour: str, via_socket: bool, undoing: bool = False) -> None:
        """Send new requests to `colour`. With a socket: repoint live.sock, record the colour in
        upstream.inc, and reload only when upstream.inc's directive changed (a host moving from
        the reload layout, once). Without one: upstream.inc names its container, and nginx
        reloads. `undoing`: failures are ignored, so the rest of an undo still runs."""
        run = self.output_of if undoing else self.run
        layout = self.plan.layout
        conf_dir = f"{layout.edge_dir}/conf.d"
        if via_socket:
            change = one_after_another(point_live_socket(layout.sockets_dir, colour),
                                       replace_upstream(conf_dir, socket_upstream(colour, layout.app_port)))
        else:
            change = replace_upstream(conf_dir, upstream_line(container(colour), layout.app_port))
        if DIRECTIVE_CHANGED in run(change):
            run(self.reload_nginx())
            self.reloaded_nginx = True
            self.say(f"nginx sends to {colour}: upstream.inc changed, nginx reloaded")
        elif via_socket:
            self.say(f"nginx sends to {colour}: live.sock moved, no reload")

    def output_of(self, command: list[str]) -> str:
        return self.run_command(command)[1]

    def restore_live(self) -> None:
        """Traffic back to the colour that served before."""
        if self.plan.live_colour:
            live = self.plan.live_colour
            self.point_nginx_at(live, self.has_socket(live), undoing=True)

    def check_through_nginx(self) -> None:
        layout = self.plan.layout
        self.run(commands.edge_health_check(layout.server_name, layout.tls, attempts=5))

    def point_links(self) -> None:
        plan = self.plan
        links = [point_link(f"{plan.layout.releases}/current", plan.release_dir)]
        if plan.replaces and plan.replaces != plan.release_dir:
            links.insert(0, point_link(f"{plan.layout.releases}/previous", plan.replaces))
        self.run(one_after_another(*links))

    def retire_old(self) -> None:
        """Gunicorn stops gracefully: it closes its listeners, unlinks its socket and lets its
        workers finish their requests (https://docs.gunicorn.org/en/stable/signals.html, TERM).
        Nothing new reaches the old colour once live.sock has moved, so the deploy need not wait
        for that: the stop runs on in the background (as Dokku retires old containers after a
        deploy, https://dokku.com/docs/deployment/zero-downtime-deploys/),
        its output in the old release's retire.log, and the next start of the colour waits
        for it."""
        plan = self.plan
        log = f"{plan.replaces}/{RETIRE_LOG}" if plan.replaces else "/dev/null"
        self.run(retire_colour(plan.live_colour, plan.drain_seconds, log))

    def drain_old(self) -> None:
        """After a reload: in-flight requests finish on nginx's old workers, which may still send
        to the old colour by its address; then the old colour stops."""
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
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        started = self.clock()
        self.phase("lock", self.take_lock)
        error: str | None = None
        try:
            self.go_live()
        except Exception as failure:
            error = str(failure) or type(failure).__name__
            raise
        finally:
            self.release_lock(after=self.history_entry(started_at, self.clock() - started, error))

    def go_live(self) -> None:
        plan, idle = self.plan, self.plan.idle_colour
        self.before_switch(f"start {idle} with {plan.release_id} and wait until it answers", self.start_idle)
        if self.answered.on_socket:
            self.say(f"check /health/ on {idle}: answered on {socket_name(idle)}, the way nginx will reach it")
        else:
            self.before_switch(f"check /health/ on {idle} directly", self.check_direct)
        if plan.migrates:
            self.before_switch("migrations", self.migrate)
        else:
            self.before_switch("check migrations", self.warn_unknown_migrations)
        self.before_switch(f"switch nginx to {idle}", lambda: self.point_nginx_at(idle, self.answered.on_socket))
        try:
            self.phase("check /health/ through nginx", self.check_through_nginx)
        except CommandError as failure:
            self.switch_back()
            raise SwitchFailed(f"{plan.action} of {plan.release_id} failed the check through nginx "
                               f"after the switch ({failure}); switched back: {self.still_serving()}"
                               ) from None
        self.phase("point current and previous", self.point_links)
        if plan.live_colour and self.reloaded_nginx:
            self.phase(f"drain and stop {plan.live_colour}", self.drain_old)
        elif plan.live_colour:
            self.phase(f"retire {plan.live_colour} (it stops in the background)", self.retire_old)

    def before_switch(self, title: str, step: Callable[[], object]) -> None:
        try:
            self.phase(title, step)
        except CommandError as failure:
            self.restore_live()             # a failed step may have left traffic pointed at it
            self.stop_idle()
            dump = f" (pre-migration dump: {self.pre_migration_dump})" if self.pre_migration_dump else ""
            raise SwitchFailed(f"{self.plan.action} of {self.plan.release_id} failed at '{title}': "
                               f"{failure}{dump}; {self.still_serving()}") from None

    def switch_back(self) -> None:
        self.restore_live()
        self.stop_idle()

    def history_entry(self, started_at: str, seconds: float, error: str | None) -> list[str]:
        """The command that appends this switch's line to the history."""
        plan = self.plan
        entry = {
            "action": plan.action,
            "release": plan.release_id,
            "image": plan.image,
            "host_image": plan.host_image,
            "image_id": plan.image_id,
            "image_digest": plan.image_digest,
            "git_commit": plan.git_commit,
            "who": f"{self.owner.who}@{self.owner.origin}",
            "started_at": started_at,
            "result": "failed" if error else "ok",
            "error": error,
            "seconds": round(seconds, 1),
            "colour": plan.idle_colour,
            "pre_migration_dump": self.pre_migration_dump,
        }
        return append_history(plan.layout.history_file, entry)
