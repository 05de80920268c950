"""`onehost logs`: the live app colour's log, nginx's, PostgreSQL's, the broker's, a declared
process's or the host's journal, read on the host and printed here.

    app    the container of the colour upstream.inc names (live.live_colour): what serves now
    edge   nginx: its JSON access lines (stdout) and its error log (stderr)
    data   PostgreSQL's server log (stderr)
    host   the journal of the host's own units (HOST_UNITS): backups, drills, certificate
           renewal, the stacks and the boot units
    broker the broker stack's container (Valkey), when the host runs one
    <name> a declared process (worker, beat: onehost/commands/processes.py): the live colour's
           container of it, followed across deploys as `app` is

Every container writes to Docker's json-file log (compose/*.yaml), which `docker logs` reads.
Each is one sh script, run as root through the host's session (onehost/remote/session.py), its
stdout carrying the log's lines, stdout and stderr alike (stderr is where gunicorn, nginx's error
log and PostgreSQL write). Filters (--grep, --request-id) and the readable form apply here, line
by line, so a line is judged the same whichever way it came.

With --follow the script follows in the background and polls once a second:
- the ssh session that started it (the sshd ancestor, one_off.FIND_SSH_SESSION): once it has
  gone, the followers are stopped. sshd signals nothing to a command without a terminal (see
  onehost/commands/one_off.py), and an idle `docker logs --follow` would wait for its next
  line before noticing, so the script must look for itself;
- `app` and a process: the live colour. When a switch names the other colour, its container is
  followed from its first line (the new container's whole log: nothing it wrote before the
  switch is lost) while the old colour's follower goes on until that container stops, so the
  old colour's drain is seen too. A new colour's process starts just after the switch
  (deploy/tasks/processes.py): until its container is there, each tick finds none and waits;
- a followed container that stops and runs again (a restart): `docker logs --follow` ends when
  its container stops (docker/cli#5305), so it is followed again from the end of its last run
  (State.FinishedAt), the new run's lines and no line twice.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from onehost.commands import processes
from onehost.commands.live import live_colour, require_release
from onehost.commands.one_off import FIND_SSH_SESSION
from onehost.commands.switch import COLOURS, DATA_PROJECT, EDGE_PROJECT, HostLayout, container

# The logs every host has; besides them, the broker's and the declared processes' (KnownLogs).
KINDS = ("app", "edge", "data", "host")
BROKER = "broker"
# Compose names the first container of a service <project>-<service>-1 (compose/edge.yaml, data.yaml,
# broker.yaml).
EDGE_CONTAINER = f"{EDGE_PROJECT}-nginx-1"
DATA_CONTAINER = f"{DATA_PROJECT}-postgres-1"
BROKER_CONTAINER = f"{processes.BROKER_PROJECT}-{processes.BROKER_SERVICE}-1"
STACK_CONTAINERS = {"edge": EDGE_CONTAINER, "data": DATA_CONTAINER, BROKER: BROKER_CONTAINER}
WHOSE = {EDGE_CONTAINER: "the edge stack", DATA_CONTAINER: "the data stack", BROKER_CONTAINER: "the broker stack"}
# The units the image bakes (deploy/rootfs/etc/systemd/system/): every onehost-* one, and the
# swap file. journalctl's --unit takes a pattern, matched against the unit names the journal
# holds (journalctl(1), --unit; systemd commit "journalctl: allow globbing in --unit").
HOST_UNITS = ("onehost-*", "swapfile.swap")
# Without --since, --lines or a filter: the last lines of the log, as `kamal app logs` does.
DEFAULT_LINES = 100
# The first word of every script: how a test (or an operator) finds its processes on the host.
SCRIPT_MARK = "# onehost logs"

_DURATION = re.compile(r"([1-9][0-9]*)([smhd])\Z")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BadInput(ValueError):
    """The options cannot be read; the message says what to give instead."""


@dataclass(frozen=True)
class Since:
    """--since: so many seconds back from now, or a moment (seconds since the epoch, UTC)."""
    seconds_ago: int | None = None
    epoch: int | None = None

    def for_docker(self) -> str:
        """`docker logs --since` takes a Go duration or a UNIX timestamp, reckoned on the host
        (https://docs.docker.com/reference/cli/docker/container/logs/)."""
        return f"{self.seconds_ago}s" if self.seconds_ago is not None else str(self.epoch)

    def for_journal(self) -> str:
        """journalctl reads `-600s` as 600 s before now and `@1700000000` as a UNIX time
        (systemd.time(7), "Parsing Timestamps": https://man7.org/linux/man-pages/man7/systemd.time.7.html)."""
        return f"-{self.seconds_ago}s" if self.seconds_ago is not None else f"@{self.epoch}"


def parse_since(text: str) -> Since:
    """10m, 2h, 1d, 30s, or an ISO time (2026-05-01T09:30Z, 2026-05-01 09:30, 2026-05-01);
    an ISO time without a zone is UTC, as the app's and nginx's log times are."""
    duration = _DURATION.match(text.strip())
    if duration:
        return Since(seconds_ago=int(duration.group(1)) * _SECONDS[duration.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"--since {text!r} is neither a duration (30s, 10m, 2h, 1d) nor an ISO time "
                       "(2026-05-01T09:30Z): give one of those") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Since(epoch=int(moment.timestamp()))


@dataclass(frozen=True)
class KnownLogs:
    """The logs a host has beyond KINDS: its declared processes and whether it runs a broker, as
    onehost.toml says (`where` "onehost.toml") or as the host's containers say ("the host")."""
    processes: tuple[str, ...] = ()
    broker: bool = False
    where: str = "onehost.toml"


def known_from_settings(data: Mapping) -> KnownLogs | None:
    """The processes and broker of the inventory's host data, which carries onehost.toml's
    settings when ONEHOST_APP_CONFIG names it (onehost.local.app_config.host_data, which always
    sets app_name); None without them. Read with the checks the deploy settings use
    (deploy/settings.py, ProcessSettings)."""
    if "app_name" not in data:
        return None
    declared = processes.check_processes(data.get("processes"))
    # Whether a broker runs; its size is the deploy's business (checked as app_config checks it).
    broker = processes.check_broker(data.get("broker"), "64mb")
    return KnownLogs(processes=tuple(declared), broker=broker is not None)   # in onehost.toml's order


def known_on_host_script() -> str:
    """Lists the process names of the host's process containers (label onehost.process, either
    colour, running or not) and says `broker` when the broker's container is there. `docker ps`
    filters by label and prints one with {{.Label "..."}}
    (https://docs.docker.com/reference/cli/docker/container/ls/#filter, #format)."""
    listing = shlex.join(["docker", "ps", "--all", "--filter", "label=onehost.process",
                          "--format", 'process {{.Label "onehost.process"}}'])
    return (f"{SCRIPT_MARK}: which processes and broker\n{listing}\n"
            f"if docker container inspect {BROKER_CONTAINER} >/dev/null 2>&1; then echo {BROKER}; fi")


def known_from_host(output: str) -> KnownLogs:
    """What known_on_host_script printed, read."""
    words = [line.split() for line in output.splitlines()]
    names = {parts[1] for parts in words if len(parts) == 2 and parts[0] == "process"}
    return KnownLogs(processes=tuple(sorted(names)), broker=[BROKER] in words, where="the host")


def check_name(kind: str, known: KnownLogs) -> None:
    """BadInput naming every log there is when `kind` is none of them."""
    if kind in KINDS or kind in known.processes or (kind == BROKER and known.broker):
        return
    whose = "of onehost.toml" if known.where == "onehost.toml" else "the host runs"
    raise BadInput(f"no log named {kind!r}: give one of {', '.join(KINDS)}, {BROKER} (when the host runs one) "
                   f"or a process {whose} ({', '.join(known.processes) or 'none'})")


@dataclass(frozen=True)
class LogRequest:
    """What `onehost logs` was asked for, checked."""
    kind: str = "app"
    since: Since | None = None
    lines: int | None = None
    follow: bool = False
    journal_json: bool = False        # `host --json`: the journal's own JSON entries


def log_request(kind: str, *, since: str | None = None, lines: int | None = None, follow: bool = False,
                as_json: bool = False, filtering: bool = False, request_id: str | None = None,
                known: KnownLogs | None = None) -> LogRequest:
    """The options read and checked before anything runs on the host. Without --since or
    --lines, the last DEFAULT_LINES lines, or the whole log when a filter looks for something.
    `known`: the broker and processes there are; None while they are not known yet (the CLI
    then checks the name with check_name once it knows them)."""
    if known is not None:
        check_name(kind, known)
    if request_id is not None and kind not in ("app", "edge"):
        raise BadInput(f"--request-id looks in the app's and nginx's lines: use it with `logs app` "
                       f"or `logs edge`, not `logs {kind}`")
    if lines is not None and lines < 1:
        raise BadInput(f"--lines {lines}: give a number of lines of 1 or more")
    parsed = parse_since(since) if since is not None else None
    if parsed is None and lines is None and not filtering:
        lines = DEFAULT_LINES
    return LogRequest(kind=kind, since=parsed, lines=lines, follow=follow, journal_json=as_json and kind == "host")


# --- command builders -----------------------------------------------------------------------

def container_logs(name: str, *, since: Since | None = None, lines: int | None = None,
                   follow: bool = False) -> list[str]:
    """`docker logs`: --since and --tail select, --follow streams on until the container stops
    (https://docs.docker.com/reference/cli/docker/container/logs/)."""
    return ["docker", "logs",
            *(["--since", since.for_docker()] if since else []),
            *(["--tail", str(lines)] if lines is not None else []),
            *(["--follow"] if follow else []),
            name]


def journal(*, since: Since | None = None, lines: int | None = None, follow: bool = False,
            as_json: bool = False) -> list[str]:
    """journalctl for the host's units: times in UTC like the containers' lines, ISO form
    (`short-iso`), or one JSON object an entry (`json`) (journalctl(1), --output)."""
    units = [flag for unit in HOST_UNITS for flag in ("--unit", unit)]
    return ["journalctl", "--no-pager", "--utc", "--output", "json" if as_json else "short-iso", *units,
            *(["--since", since.for_journal()] if since else []),
            *(["--lines", str(lines)] if lines is not None else []),
            *(["--follow"] if follow else [])]


# --- the scripts ----------------------------------------------------------------------------

# Shell functions of a following script. A follower is a background process of this script; its
# pid is kept per key (a colour, `edge`, `data`, `journal`) in $follower_<key>.
FOLLOWERS = r"""followers=
session=$(ssh_session)
# True while the ssh session that started this script is there (or there was none to watch).
session_open() { [ -z "$session" ] || kill -0 "$session" 2>/dev/null; }
# True while $1 is a process this script started and it has not ended (a zombie has).
running_follower() {
  [ -n "$1" ] && grep -qs "^PPid:[[:space:]]*$$\$" "/proc/$1/status" \
    && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"
}
# $1 the key; the rest: the command, its stdout and stderr both to this script's stdout.
start_follower() {
  key=$1; shift
  "$@" 2>&1 &
  eval "follower_$key=$!"
  followers="$followers $!"
}
# $1 the key, $2 a container: follows it again when it runs and its follower has ended: a new
# container (never finished) from its first line, a restarted one from the end of its last run.
refollow() {
  eval "pid=\${follower_$1:-}"
  running_follower "$pid" && return 0
  state=$(docker container inspect --format '{{.State.Running}} {{.State.FinishedAt}}' "$2" 2>/dev/null) || return 0
  case "$state" in
    "true 0001-"*) start_follower "$1" docker logs --follow "$2" ;;
    "true "*) start_follower "$1" docker logs --follow --since "${state#true }" "$2" ;;
  esac
}
stop_followers() {
  for pid in $followers; do running_follower "$pid" && kill "$pid"; done
}
trap 'stop_followers; exit 129' HUP
trap 'stop_followers; exit 130' INT
trap 'stop_followers; exit 143' TERM"""


def _quoted_error(message: str) -> str:
    return f"{{ echo {shlex.quote('error: ' + message)} >&2; exit 1; }}"


def container_check(name: str, host_name: str, whose: str | None = None) -> str:
    """Stops with a one-line error when the container is not on the host (rather than letting
    docker's own error pass for a line of the log)."""
    whose = whose or WHOSE.get(name, "the live colour")
    message = (f"{host_name} has no container {name} ({whose}): deploy, or start "
               "the stacks on the host with `systemctl start onehost-stacks`")
    return f"docker container inspect {shlex.quote(name)} >/dev/null 2>&1 || {_quoted_error(message)}"


def colour_case(layout: HostLayout, host_name: str, command_for) -> str:
    """Sets $colour to the live one, then runs `command_for(colour)` for it (a shell line), or
    stops with a one-line error when upstream.inc names neither colour."""
    message = (f"{host_name}'s nginx names no app colour in its upstream.inc: deploy again "
               "(pyinfra deploy/inventory.py deploy/deploy.py --data image=...)")
    cases = "\n".join(f"  {colour}) {command_for(colour)} ;;" for colour in COLOURS)
    return f'{live_colour(layout)}\ncase "$colour" in\n{cases}\n  *) {_quoted_error(message)} ;;\nesac'


def live_containers(kind: str) -> tuple[Callable[[str], str], str | None] | None:
    """For a log that follows the live colour (the app, a declared process): the container of
    each colour, and what to call it in an error (None: the app's own words). None for the rest."""
    if kind == "app":
        return container, None
    if kind in KINDS or kind == BROKER:
        return None
    return (lambda colour: processes.container(colour, kind)), f"the live colour's {kind} process"


def logs_script(request: LogRequest, layout: HostLayout, host_name: str) -> str:
    """The script `onehost logs` runs on the host: prints the lines and ends, or follows."""
    if request.follow:
        return follow_script(request, layout, host_name)
    window = {"since": request.since, "lines": request.lines}
    live = live_containers(request.kind)
    if request.kind == "host":
        body = "exec " + shlex.join(journal(**window, as_json=request.journal_json))
    elif live:
        container_of, whose = live

        def read(colour: str) -> str:
            name = container_of(colour)
            return (f"{container_check(name, host_name, whose)}\n    "
                    f"exec {shlex.join(container_logs(name, **window))} 2>&1")
        body = "\n".join([require_release(layout, host_name), colour_case(layout, host_name, read)])
    else:
        name = STACK_CONTAINERS[request.kind]
        body = f"{container_check(name, host_name)}\nexec {shlex.join(container_logs(name, **window))} 2>&1"
    return f"{SCRIPT_MARK} {request.kind}\n{body}"


def follow_script(request: LogRequest, layout: HostLayout, host_name: str) -> str:
    """Follows until the ssh session goes (see the module's docstring), then stops its followers."""
    window = {"since": request.since, "lines": request.lines, "follow": True}
    live = live_containers(request.kind)
    if request.kind == "host":
        start = "start_follower journal " + shlex.join(journal(**window, as_json=request.journal_json))
        checks, tick = "", 'running_follower "$follower_journal" || break'
    elif live:
        container_of, whose = live

        def follow(colour: str) -> str:
            name = container_of(colour)
            return (f"{container_check(name, host_name, whose)}\n    "
                    f"start_follower {colour} {shlex.join(container_logs(name, **window))}")
        checks = require_release(layout, host_name)
        start = colour_case(layout, host_name, follow)
        cases = " ".join(f"{colour}) refollow {colour} {container_of(colour)} ;;" for colour in COLOURS)
        tick = f'{live_colour(layout)}\n  case "$colour" in {cases} esac'
    else:
        name = STACK_CONTAINERS[request.kind]
        checks = container_check(name, host_name)
        start = f"start_follower {request.kind} {shlex.join(container_logs(name, **window))}"
        tick = f"refollow {request.kind} {name}"
    return "\n".join(part for part in (
        f"{SCRIPT_MARK} {request.kind} --follow",
        checks,
        FIND_SSH_SESSION,
        FOLLOWERS,
        start,
        "while sleep 1; do",
        "  session_open || break",
        f"  {tick}",
        "done",
        "stop_followers",
    ) if part)


# --- the lines ------------------------------------------------------------------------------

def json_entry(line: str) -> dict | None:
    """The line's JSON object (the app's lines, nginx's access lines), or None for a plain line."""
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def matches(line: str, *, grep: str | None = None, request_id: str | None = None) -> bool:
    """--grep: the text anywhere in the line as it was written (case matters). --request-id: a
    JSON line whose request_id is that id: the app's lines (timewarp/logs.py) and nginx's access
    lines (nginx/templates/http.conf.j2) name it the same way."""
    if grep is not None and grep not in line:
        return False
    if request_id is not None:
        entry = json_entry(line)
        return entry is not None and entry.get("request_id") == request_id
    return True


def readable(line: str) -> str:
    """One line for a person: time, level (or HTTP status), message, request id. An exception's
    traceback follows on indented lines; a line that is not JSON is printed as it is."""
    entry = json_entry(line)
    if entry is None:
        return line
    if "status" in entry and "uri" in entry:       # nginx's access line
        level = str(entry["status"])
        message = f"{entry.get('method', '')} {entry['uri']}"
        if entry.get("request_time") is not None:
            message += f" {entry['request_time']}s"
        if entry.get("upstream_status"):
            message += f" (app {entry['upstream_status']})"
    elif "message" in entry or "msg" in entry:
        level = str(entry.get("level") or entry.get("levelname") or "")
        message = str(entry.get("message", entry.get("msg")))
    else:
        return line
    time = str(entry.get("time") or entry.get("timestamp") or "")
    parts = [time, f"{level:<7}", message]
    if entry.get("event"):
        parts.append(f"event={entry['event']}")
    if entry.get("request_id"):
        parts.append(f"request_id={entry['request_id']}")
    text = "  ".join(part for part in parts if part.strip())
    detail = entry.get("exception") or entry.get("stack")
    if detail:
        text += "\n" + "\n".join("    " + each for each in str(detail).splitlines())
    return text
