"""The blue/green switch: put a release live without dropping a request, or undo it.

The app runs as two compose projects, `app-blue` and `app-green`, on the shared network.
Each colour's Gunicorn also listens on a Unix socket, `app-<colour>.sock`, in the edge's
`conf.d/sockets/` directory; nginx proxies to `sockets/live.sock`, a symlink to the live colour's
socket. nginx connects anew for every request (no upstream keep-alive pool), so repointing the
link moves traffic with no reload: no client connection is closed and nginx's configuration
and processes stay as they are. `upstream.inc` records the live colour for the other tools. A switch:

 1. takes the deploy lock;
 2. starts the idle colour with the release and waits, in one host command, until it answers
    /health/ on its socket the way nginx will reach it (or, for a release from before the socket
    layout, until Docker reports it healthy); the same command asks the colour for its migration
    state while it boots;
 3. a colour without a socket only: checks /health/ on it directly (its address on the shared
    network);
 4. deploys only: when migrations are pending, dumps the database (`pg_dump -Fc`) into
    the backups directory, then migrates in a one-off container of the new image;
    rollbacks only: warns when the database holds migrations the release does not know;
 5. points `sockets/live.sock` at the new colour's socket (atomic rename) and records the colour
    in upstream.inc; nginx reloads only when upstream.inc's directive changes (a host moving
    from the reload layout, once) or when the colour has no socket (a release from before the
    socket layout: upstream.inc then names its container, and nginx reloads as it used to);
 6. checks /health/ through nginx, and switches back when that fails;
 7. points `current` and `previous`, then retires the old colour: Gunicorn's graceful stop
    lets its requests finish in the background, so the deploy does not wait for them (a switch
    that reloaded nginx waits for nginx's old workers, then stops the colour itself);
 8. appends a line to the history and releases the lock, whatever happened.

Any failure before step 5 stops the new colour and leaves the old one serving. The
commands are built by the pure functions here; `Switch` (onehost/remote/switch.py) runs them
through a `Runner`, which the deploy files bind to the pyinfra connection (and the unit tests to a fake).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Protocol

from onehost.commands import compose_commands as commands
from onehost.commands.host_defaults import LOCK_TTL_SECONDS

COLOURS = ("blue", "green")
# The long-lived stacks the switch works with: nginx reloads, PostgreSQL dumps.
EDGE_PROJECT, DATA_PROJECT = "edge", "data"
UPSTREAM_FILE = "upstream.inc"
# The colours' sockets: `<edge_dir>/conf.d/sockets` on the host, a directory nginx has mounted
# since before the socket layout (so a host moving to it needs no nginx restart, which would drop
# connections). Connecting to a socket on a read-only bind mount works: `ro` stops writes to the
# filesystem, and connect(2) writes nothing to it (the Docker socket mounted `:ro` stays usable,
# https://docs.docker.com/engine/security/protect-access/ ; the kernel checks only the socket
# file's write permission, torvalds/linux net/unix/af_unix.c unix_find_bsd).
SOCKETS_SUBDIR = "sockets"
NGINX_SOCKETS_DIR = f"/etc/nginx/conf.d/{SOCKETS_SUBDIR}"
APP_SOCKETS_DIR = "/run/onehost"          # where each colour's container sees the same directory
LIVE_SOCKET = "live.sock"
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
    """upstream.inc's one line: nginx proxies to the container named `target` (the layout of
    releases without a socket: a switch to such a colour reloads nginx)."""
    return f"set $app_upstream http://{target}:{port};\n"


def socket_name(colour: str) -> str:
    """The colour's Gunicorn socket, named after its compose project (compose.yaml)."""
    return f"{project(colour)}.sock"


def socket_directive() -> str:
    """upstream.inc's directive in the socket layout: the same for every colour, so a switch never
    changes what nginx has loaded. nginx takes a `unix:` address from a variable (ngx_http_proxy_eval
    hands the value to ngx_parse_url, whose ngx_parse_unix_domain_url fills the address with no
    resolver: nginx/nginx src/http/modules/ngx_http_proxy_module.c, src/core/ngx_inet.c) and calls
    connect(2) with the path for each new upstream connection (src/event/ngx_event_connect.c), so
    the kernel follows the symlink as it is at that moment. Without `keepalive` in an upstream
    block nginx keeps no upstream connection open
    (https://nginx.org/en/docs/http/ngx_http_upstream_module.html#keepalive): the next request
    after the link moves goes to the new colour."""
    return f"set $app_upstream http://unix:{NGINX_SOCKETS_DIR}/{LIVE_SOCKET}:;\n"


def socket_upstream(colour: str, port: int) -> str:
    """upstream.inc in the socket layout: the fixed directive, and the live colour in a comment
    for the tools that read it (live.live_colour, onehost logs/status, the backup tool)."""
    return (f"# live: http://{container(colour)}:{port}, reached through "
            f"{SOCKETS_SUBDIR}/{LIVE_SOCKET} -> {socket_name(colour)} (moved by the switch, no reload)\n"
            + socket_directive())


def colour_in_upstream(text: str) -> str | None:
    for colour in COLOURS:
        if f"http://{container(colour)}:" in text:
            return colour
    return None


# --- command builders ---------------------------------------------------------------

def colour_compose(colour: str, release_dir: str) -> list[str]:
    return commands.compose(project(colour), f"{release_dir}/compose.yaml", f"{release_dir}/release.env")


# Held by a colour's retire (retire_colour) until its containers are gone. /run/lock is the
# host's directory for lock files, on tmpfs: no retire outlives a reboot, and neither does its lock
# (https://refspecs.linuxfoundation.org/FHS_3.0/fhs/ch05s09.html).
RETIRE_LOCK_DIR = "/run/lock"


def retire_lock(colour: str) -> str:
    return f"{RETIRE_LOCK_DIR}/onehost-retire-{project(colour)}.lock"


def start_colour(colour: str, release_dir: str, retire_wait_seconds: int) -> list[str]:
    """Start (or recreate) the colour with the release; the switch then waits for its health.
    A retire of the colour the deploy before left running in the background ends first: up to
    `retire_wait_seconds` (flock(1) waits for the lock, --wait gives up,
    https://man7.org/linux/man-pages/man1/flock.1.html)."""
    lock = retire_lock(colour)
    waited = (f'flock --wait "$1" {shlex.quote(lock)} true || {{ echo "{project(colour)} was still being '
              f'retired after $1 s (see retire.log in the release it ran); stop it with: docker compose '
              f'--project-name {project(colour)} down" >&2; exit 1; }}; shift; exec "$@"')
    return ["sh", "-c", waited, "start-colour", str(retire_wait_seconds),
            *colour_compose(colour, release_dir), "up", "--detach", "--remove-orphans"]


def wait_for_retires(timeout_seconds: int) -> list[str]:
    """Until no colour is being retired: each retire lock that exists is taken once and let go."""
    locks = " ".join(shlex.quote(retire_lock(colour)) for colour in COLOURS)
    return ["sh", "-c", f'for lock in {locks}; do [ -e "$lock" ] || continue; '
                        f'flock --wait {timeout_seconds} "$lock" true || exit 1; done']


def retire_colour(colour: str, timeout_seconds: int, log_file: str) -> list[str]:
    """stop_colour in the background, in its own session (setsid --fork: the command returns at
    once, and the stop outlives the SSH session: https://man7.org/linux/man-pages/man1/setsid.1.html),
    its output in `log_file`. It holds retire_lock(colour) from before it starts until its last
    process exits (the lock is on the open file, which the stop inherits as fd 9: flock(2)), so
    the next start of the colour waits for it."""
    return ["sh", "-c", 'exec 9> "$1" && flock 9 && log=$2 && shift 2 && '
                        'exec setsid --fork "$@" > "$log" 2>&1 < /dev/null',
            "retire-colour", retire_lock(colour), log_file, *stop_colour(colour, timeout_seconds)]


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


def socket_health_check(sockets_dir: str, colour: str, server_name: str) -> list[str]:
    """/health/ through the colour's Unix socket, the way nginx will reach it (curl connects
    through the socket instead of the network: https://curl.se/docs/manpage.html#--unix-socket).
    A colour whose release predates the socket layout has no socket: the switch then uses its
    address."""
    return ["curl", "--fail", "--silent", "--show-error", "--max-time", "5",
            "--unix-socket", f"{sockets_dir}/{socket_name(colour)}",
            "--header", f"Host: {server_name}", "http://localhost/health/"]


# Docker's view of a container as `<state> <health>`: `running starting`, `running healthy`,
# `exited` (State.Status is created, running, paused, restarting, removing, exited or dead;
# State.Health exists only for a container with a health check:
# https://docs.docker.com/reference/api/engine/version/v1.57/schemas/ContainerState/).
STATUS_FORMAT = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
# The lines wait_until_answers prints when the colour answers: how it answered, then the exit
# status of the migration-state query it ran meanwhile, followed by that query's output.
ANSWERED, MIGRATION_QUERY = "ONEHOST_ANSWERED", "ONEHOST_MIGRATION_QUERY"
ON_SOCKET, HEALTHY_BY_DOCKER = "socket", "address"

# $1 container, $2 timeout in seconds, $3 MIGRATION_STATE, then the socket check's argv.
# The migration query starts at once, in the background, so Django's start and its database
# round trips overlap the app's boot (`docker exec` runs in the container's working directory as
# its user, as `compose exec` does: https://docs.docker.com/reference/cli/docker/container/exec/).
# Its output waits in a temporary file and is printed only when the colour answers; on a failure
# the query is stopped and the one line printed is what failed, as the switch reports it.
# A colour answers when the socket check succeeds; when Docker already says healthy and the
# socket still does not answer, the release predates the socket layout (nginx will reach it by
# address). Polled every 0.1 s plus the two commands' own time (GNU sleep takes fractions, GNU
# date's %3N gives milliseconds: https://www.gnu.org/software/coreutils/manual/html_node/date-invocation.html).
WAIT_UNTIL_ANSWERS = f"""
container=$1 seconds=$2 migration_state=$3
shift 3
answers() {{ "$@" >/dev/null 2>&1; }}
query_output=$(mktemp) || exit 1
trap 'rm -f "$query_output"' EXIT
timeout "$seconds" docker exec "$container" python manage.py shell --command "$migration_state" \\
  >"$query_output" 2>&1 &
query=$!
give_up() {{ kill "$query" 2>/dev/null; echo "$1"; exit 1; }}
deadline=$(( $(date +%s%3N) + seconds * 1000 ))
while :; do
  if answers "$@"; then way={ON_SOCKET}; break; fi
  status=$(docker inspect --format '{STATUS_FORMAT}' "$container" 2>/dev/null)
  status=${{status% }}
  case $status in
    exited*|dead*) give_up "$container $status" ;;
    'running healthy')
      if answers "$@"; then way={ON_SOCKET}; else way={HEALTHY_BY_DOCKER}; fi
      break ;;
  esac
  [ "$(date +%s%3N)" -lt "$deadline" ] ||
    give_up "$container not healthy within $seconds s (Docker says: ${{status:-nothing}})"
  sleep 0.1
done
echo "{ANSWERED} $way"
wait "$query"
echo "{MIGRATION_QUERY} $?"
cat "$query_output"
""".strip()


def wait_until_answers(colour: str, sockets_dir: str, server_name: str, timeout_seconds: int) -> list[str]:
    """Wait on the host until the colour, just started, answers (see WAIT_UNTIL_ANSWERS), asking
    it for its migration state meanwhile: one round trip instead of a poll over SSH. Fails at once
    when the container has exited, and after `timeout_seconds` with Docker's last status."""
    return ["sh", "-c", WAIT_UNTIL_ANSWERS, "wait-until-answers", container(colour), str(timeout_seconds),
            MIGRATION_STATE, *socket_health_check(sockets_dir, colour, server_name)]


@dataclass(frozen=True)
class Answered:
    """What wait_until_answers printed when the colour answered."""
    way: str                       # ON_SOCKET, or HEALTHY_BY_DOCKER for a colour without a socket
    migration_state: dict | None   # the query's, None when it failed (the switch then asks again)
    migration_query: str           # its exit status and last lines, to say why it failed

    @property
    def on_socket(self) -> bool:
        return self.way == ON_SOCKET


def parse_answered(output: str) -> Answered | None:
    """None when the output has no ANSWERED line."""
    lines = output.splitlines()
    way = next((line.split(" ", 1)[1].strip() for line in lines if line.startswith(f"{ANSWERED} ")), None)
    marker = next((at for at, line in enumerate(lines) if line.startswith(f"{MIGRATION_QUERY} ")), None)
    if way is None:
        return None
    if marker is None:
        return Answered(way, None, "no migration query output")
    status = lines[marker].split(" ", 1)[1].strip()
    query_output = "\n".join(lines[marker + 1:])
    state = parse_migration_state(query_output) if status == "0" else None
    return Answered(way, state, f"exit status {status}: {last_lines(query_output)}")


def point_live_socket(sockets_dir: str, colour: str) -> list[str]:
    """live.sock -> app-<colour>.sock, relative so it resolves the same on the host and in nginx."""
    return point_link(f"{sockets_dir}/{LIVE_SOCKET}", socket_name(colour))


# Printed by replace_upstream when the directive nginx reads changed: nginx must reload.
DIRECTIVE_CHANGED = "directive changed"


def replace_upstream(conf_dir: str, text: str) -> list[str]:
    """Write upstream.inc beside, then rename; prints DIRECTIVE_CHANGED when its last line (the
    directive nginx reads; the rest are comments) is not the one the file had."""
    final = f"{conf_dir}/{UPSTREAM_FILE}"
    partial = f"{final}.partial"
    return ["sh", "-c", f"before=$(tail -n 1 {shlex.quote(final)} 2>/dev/null); "
                        f"printf '%s' \"$1\" > {shlex.quote(partial)} && "
                        f"mv -f {shlex.quote(partial)} {shlex.quote(final)} && "
                        f"if [ \"$before\" != \"$(tail -n 1 {shlex.quote(final)})\" ]; "
                        f"then echo {shlex.quote(DIRECTIVE_CHANGED)}; fi",
            "replace-upstream", text]


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


def one_after_another(*commands: list[str]) -> list[str]:
    """The commands in one shell, each only when the one before succeeded: one round trip."""
    return ["sh", "-c", " && ".join(shlex.join(command) for command in commands)]


def point_link(link: str, target: str) -> list[str]:
    """ln -sfn onto a temporary name, then rename over the link: atomic."""
    partial = f"{link}.partial"
    return ["sh", "-c", f"ln -sfn {shlex.quote(target)} {shlex.quote(partial)} && "
                        f"mv -Tf {shlex.quote(partial)} {shlex.quote(link)}"]


def append_history(history_file: str, entry: dict) -> list[str]:
    return ["sh", "-c", f"printf '%s\\n' \"$1\" >> {shlex.quote(history_file)}",
            "append-history", json.dumps(entry, sort_keys=True)]


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
    def static_dir(self) -> str:
        return f"{self.data_dir}/static"

    @property
    def image_archives(self) -> str:
        return f"{self.data_dir}/images"

    @property
    def imports(self) -> str:
        return f"{self.data_dir}/imports"

    @property
    def edge_dir(self) -> str:
        return f"{self.data_dir}/stacks/{EDGE_PROJECT}"

    @property
    def data_stack_dir(self) -> str:
        return f"{self.data_dir}/stacks/{DATA_PROJECT}"

    @property
    def sockets_dir(self) -> str:
        return f"{self.edge_dir}/conf.d/{SOCKETS_SUBDIR}"


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
    # `repository@sha256:...` when the host pulls the image by its registry digest (known when
    # planning); None for a shipped image (`docker load` records no digest).
    image_digest: str | None = None
    lock_ttl_seconds: int = LOCK_TTL_SECONDS
    break_lock: bool = False

    @property
    def idle_colour(self) -> str:
        return other(self.live_colour) if self.live_colour else COLOURS[0]

    @property
    def migrates(self) -> bool:
        return self.action == "deploy"
