"""`onehost status`: a host's state in one SSH round trip, and the rules that say what needs attention.

`probe_script` is one POSIX sh script, run on the host as root, that prints sections headed
`== <name>`: the clock, the live release and colour, the long-lived containers, the edge's
server name and TLS, /health/ through nginx, the certificate nginx serves, the backup records,
disk, memory, failed systemd units and the deploy lock. Every section prints what it finds
and never stops the script, so a host with half its parts missing still reports the rest.
`parse_probe` reads that output into a report (a dict, the `--json` document's shape),
`attention` applies the rules, `format_report` prints the table. All pure: the SSH is
onehost/remote/host_status.py's.

The thresholds are here, in one place; `onehost status` takes flags to change them.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

from onehost.commands import compose_commands, lock, tls
from onehost.commands.host_defaults import LOCK_TTL_SECONDS
from onehost.commands.live import live_colour, no_release_message
from onehost.commands.logs import json_entry
from onehost.commands.switch import COLOURS, DATA_PROJECT, EDGE_PROJECT, HostLayout, container

# --- what needs attention -------------------------------------------------------------------
# Let's Encrypt certificates live 90 days and certbot renews them 30 days before the end: one
# with under 14 left has missed two weeks of twice-daily renewals.
CERTIFICATE_MIN_DAYS = 14
# A nightly backup plus its timer's slack; the CloudWatch heartbeat alarm waits as long
# (onehost/aws/backups.py heartbeat_alarm).
BACKUP_MAX_AGE_HOURS = 26
DISK_MAX_PERCENT = 90
# A lock older than the deploys' default TTL is taken to be left by a deploy that died.
LOCK_STALE_SECONDS = LOCK_TTL_SECONDS


@dataclass(frozen=True)
class Thresholds:
    certificate_days: float = CERTIFICATE_MIN_DAYS
    backup_hours: float = BACKUP_MAX_AGE_HOURS
    disk_percent: float = DISK_MAX_PERCENT


# --- what the host holds --------------------------------------------------------------------
# The long-lived stacks' containers, as compose names them (<project>-<service>-1).
SERVICES = {"nginx": f"{EDGE_PROJECT}-nginx-1", "PostgreSQL": f"{DATA_PROJECT}-postgres-1"}
# Written by onehost-backup beside its settings (deploy/rootfs/usr/local/sbin/onehost-backup.py).
BACKUP_CONFIG, RUN_RECORD, DRILL_RECORD = "config.json", "last-run.json", "last-drill.json"
# A nightly dump's name (onehost-backup's NAME): the deploy's pre-migration dumps do not match.
NIGHTLY_DUMP = re.compile(r"^[A-Za-z0-9_]+-(?P<stamp>\d{8}T\d{6}Z)\.dump$")

SECTION = "== "
HTTP_CODE = "ONEHOST_HTTP_CODE "
# docker inspect's Go template: state, health (empty without a health check), start time, image
# (Docker Engine API, ContainerState: https://docs.docker.com/reference/api/engine/version/v1.45/#tag/Container/operation/ContainerInspect).
INSPECT_FORMAT = ("{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|"
                  "{{.State.StartedAt}}|{{.Config.Image}}")
# sed lines printing the site's first server name (the catch-all servers are `server_name _`), and
# the certificate file tls-certificate.inc names, relative to where nginx mounts the letsencrypt dir.
SITE_NAME_SED = r"s/^[[:space:]]*server_name[[:space:]]\{1,\}\([^_;[:space:]][^;[:space:]]*\).*/\1/p"
CERTIFICATE_SED = (r"s|^[[:space:]]*ssl_certificate[[:space:]]\{1,\}" + tls.NGINX_LETSENCRYPT_DIR
                   + r"/\([^;]*\);.*|\1|p")
# The server name is the host's own, read from its app.conf by the script: the health request is
# built with this placeholder, which becomes "$server_name" inside the (single-quoted) words.
_SERVER_NAME = "{server_name}"


def health_request(tls_on: bool) -> str:
    """compose_commands.edge_health_check (HTTPS with the name's SNI when the edge has TLS), asked
    once and without --fail, so a failing answer still shows its status and body; curl's
    --write-out prints the status on a line of its own after the body
    (https://everything.curl.dev/usingcurl/verbose/writeout)."""
    command = compose_commands.edge_health_check(_SERVER_NAME, tls_on, attempts=0, fail=False)
    command += ["--write-out", f"\\n{HTTP_CODE}%{{http_code}}\\n"]
    # shlex.quote single-quotes every word holding the placeholder ("{" is not a safe character).
    return shlex.join(command).replace(_SERVER_NAME, "'\"$server_name\"'")


def _lines(*lines: str) -> str:
    return "\n".join(lines)


def probe_script(layout: HostLayout) -> str:
    """One sh script printing every section; it always exits 0 (ssh's 255 is then unreachable)."""
    q = shlex.quote
    conf = f"{layout.edge_dir}/conf.d"
    letsencrypt = f"{layout.data_dir}/letsencrypt"
    backups = layout.backups
    app_container = " ".join(f'[ "$colour" = {colour} ] && app={container(colour)};' for colour in COLOURS)
    inspect = shlex.join(["docker", "inspect", "--format", INSPECT_FORMAT])
    return _lines(
        f"echo '{SECTION}now'; date -u +%s",
        # The live release, found as the console commands find it (onehost/commands/live.py).
        f"echo '{SECTION}release'; release=$(readlink -f {q(layout.releases + '/current')} 2>/dev/null)",
        'if [ -n "$release" ] && [ -f "$release/release.env" ]; then echo "${release##*/}"; '
        'tr -d \'\\n\' 2>/dev/null < "$release/release.json"; echo; fi',
        live_colour(layout),
        f"app=; {app_container}",
        f"echo '{SECTION}colour'; echo \"$colour\"",
        f"echo '{SECTION}containers'",
        f'for name in {" ".join(SERVICES.values())} $app; do '
        f'if out=$(timeout 10 {inspect} "$name" 2>&1); then echo "$name|$out"; '
        'else echo "$name|error|$(printf %s "$out" | tail -n 1)"; fi; done',
        # The site's first name and whether it listens for TLS, as the deploy rendered app.conf
        # (nginx/templates/app.conf.j2: the catch-all servers are `server_name _`).
        f"server_name=$(sed -n {q(SITE_NAME_SED)} {q(conf + '/app.conf')} 2>/dev/null | head -n 1)",
        f"tls=no; grep -qs 'listen 443 ssl;' {q(conf + '/app.conf')} && tls=yes",
        f"echo '{SECTION}edge'; echo \"$server_name $tls\"",
        f"echo '{SECTION}health'",
        'if [ -n "$server_name" ]; then',
        f'  if [ "$tls" = yes ]; then {health_request(True)} 2>&1; else {health_request(False)} 2>&1; fi',
        "fi",
        # The certificate nginx serves for the name (openssl s_client -servername sets the SNI:
        # https://docs.openssl.org/3.0/man1/openssl-s_client/); when nginx gives none, the file
        # tls-certificate.inc points it at (/etc/letsencrypt in nginx is <data_dir>/letsencrypt).
        f"echo '{SECTION}certificate'",
        'if [ "$tls" = yes ]; then',
        '  from=served; pem=$(timeout 10 openssl s_client -connect 127.0.0.1:443 -servername "$server_name" '
        "</dev/null 2>/dev/null | openssl x509 2>/dev/null)",
        '  if [ -z "$pem" ]; then from=file; '
        f"file=$(sed -n {q(CERTIFICATE_SED)} {q(conf + '/tls-certificate.inc')} 2>/dev/null); "
        f'[ -n "$file" ] && pem=$(openssl x509 -in {q(letsencrypt)}/"$file" 2>/dev/null); fi',
        # https://docs.openssl.org/3.0/man1/openssl-x509/ (-subject -issuer -enddate -ext)
        '  [ -n "$pem" ] && { echo "from $from"; printf \'%s\\n\' "$pem" | '
        "openssl x509 -noout -subject -issuer -enddate -ext subjectAltName 2>/dev/null; }",
        "fi",
        f"echo '{SECTION}backup-config'; tr -d '\\n' 2>/dev/null < {q(backups + '/' + BACKUP_CONFIG)}; echo",
        f"echo '{SECTION}backup-run'; cat {q(backups + '/' + RUN_RECORD)} 2>/dev/null; echo",
        f"echo '{SECTION}drill'; cat {q(backups + '/' + DRILL_RECORD)} 2>/dev/null; echo",
        f"echo '{SECTION}dumps'",
        f'for file in {q(backups)}/*.dump; do [ -f "$file" ] && echo "$(stat -c %s "$file") ${{file##*/}}"; done',
        # POSIX df output: 1024-byte blocks, one line per file system.
        f"echo '{SECTION}disk'; df -P -k / {q(layout.data_dir)} 2>/dev/null",
        # MemAvailable: the kernel's estimate of memory free for new work without swapping
        # (https://www.kernel.org/doc/Documentation/filesystems/proc.txt).
        f"echo '{SECTION}memory'; grep -E '^(MemTotal|MemAvailable|SwapTotal|SwapFree):' /proc/meminfo",
        # https://www.freedesktop.org/software/systemd/man/latest/systemctl.html (--state=, --plain, --no-legend)
        f"echo '{SECTION}failed-units'; systemctl list-units --state=failed --no-legend --plain 2>/dev/null",
        f"echo '{SECTION}lock'; {shlex.join(lock.inspect(layout.lock_dir))}",
        "true",
    )


# --- reading what it printed -------------------------------------------------------------------

def sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        if line.startswith(SECTION):
            name = line[len(SECTION):].strip()
            found[name] = []
        elif name is not None:
            found[name].append(line)
    return found


def _json_line(lines: list[str]) -> dict | None:
    """A section holding one JSON object, printed over one or more lines."""
    return json_entry("".join(line.strip() for line in lines))


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time (Docker's StartedAt has nanoseconds) or openssl's `Jun  1 12:00:00 2026 GMT`."""
    if not text:
        return None
    text = text.strip()
    iso = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        try:
            when = datetime.strptime(text, "%b %d %H:%M:%S %Y GMT")
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _stamp(when: datetime | None) -> str | None:
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" if when else None


def _containers(lines: list[str]) -> dict[str, dict]:
    found = {}
    for line in lines:
        name, _, rest = line.partition("|")
        parts = rest.split("|")
        if parts[0] == "error":
            detail = parts[1] if len(parts) > 1 else ""
            state = "missing" if "no such" in detail.lower() else "unknown"
            found[name] = {"container": name, "state": state, "health": None, "started_at": None,
                           "image": None, "error": None if state == "missing" else detail or None}
            continue
        parts += [""] * (4 - len(parts))
        found[name] = {"container": name, "state": parts[0] or "unknown", "health": parts[1] or None,
                       "started_at": _stamp(parse_time(parts[2])), "image": parts[3] or None, "error": None}
    return found


def _health(lines: list[str], server_name: str, tls_on: bool) -> dict:
    url = f"https://{server_name}/health/" if tls_on else "http://127.0.0.1/health/"
    status, body = None, []
    for line in lines:
        if line.startswith(HTTP_CODE):
            code = line[len(HTTP_CODE):].strip()
            status = int(code) if code.isdigit() and code != "000" else None
        else:
            body.append(line)
    text = "\n".join(body).strip()
    if not server_name:
        text = "no site in nginx's app.conf (the edge is not deployed)"
    return {"url": url, "status": status, "body": text, "ok": status == 200}


def _certificate(lines: list[str], now: datetime) -> dict | None:
    fields = {}
    for line in lines:
        key, separator, value = line.partition("=")
        if line.startswith("from "):
            fields["from"] = line[5:].strip()
        elif separator and key in ("subject", "issuer", "notAfter"):
            fields[key] = value.strip()
    if "notAfter" not in fields:
        return None
    not_after = parse_time(fields["notAfter"])
    return {"names": tls.certificate_names("\n".join(lines)), "subject": fields.get("subject"),
            "issuer": fields.get("issuer"), "not_after": _stamp(not_after),
            "days_left": round((not_after - now).total_seconds() / 86400, 1) if not_after else None,
            "from": fields.get("from")}


def _backups(config: dict | None, run: dict | None, drill: dict | None, dumps: list[str],
             now: datetime) -> dict:
    newest = None
    for line in dumps:
        size, _, name = line.strip().partition(" ")
        match = NIGHTLY_DUMP.match(name)
        if match and size.isdigit():
            when = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if newest is None or when > newest[0]:
                newest = (when, name, int(size))
    uploaded = (run or {}).get("last_uploaded")
    if isinstance(uploaded, dict) and parse_time(uploaded.get("finished_at")):
        last = {"backup": uploaded.get("backup"), "size": uploaded.get("size"),
                "finished_at": uploaded["finished_at"], "in_s3": True}
    elif newest:
        # No run has recorded an upload: the newest local dump, which may never have left the host.
        last = {"backup": newest[1], "size": newest[2], "finished_at": _stamp(newest[0]),
                "in_s3": False if run else None}
    else:
        last = None
    if last:
        last["age_hours"] = round((now - parse_time(last["finished_at"])).total_seconds() / 3600, 1)
    last_run = None
    if run and parse_time(run.get("finished_at")):
        last_run = {"finished_at": run["finished_at"], "ok": bool(run.get("ok")), "error": run.get("error"),
                    "backup": run.get("backup"), "uploaded": bool(run.get("uploaded"))}
    last_drill = None
    if drill and parse_time(drill.get("finished_at")):
        last_drill = {"finished_at": drill["finished_at"], "passed": bool(drill.get("passed")),
                      "backup": drill.get("backup"), "error": drill.get("error"),
                      "age_days": round((now - parse_time(drill["finished_at"])).total_seconds() / 86400, 1)}
    return {"configured": config is not None, "bucket": (config or {}).get("bucket"),
            "last": last, "last_run": last_run, "drill": last_drill}


def _disk(lines: list[str], data_dir: str) -> dict:
    rows = [line.split() for line in lines[1:] if len(line.split()) >= 6]
    found = {}
    for path, row in zip(("/", data_dir), rows, strict=False):
        size, used, available = (int(value) * 1024 for value in row[1:4])
        found[path] = {"size_bytes": size, "used_bytes": used, "available_bytes": available,
                       "used_percent": int(row[4].rstrip("%")) if row[4].rstrip("%").isdigit() else None,
                       "mounted_on": row[5]}
    return found


def _memory(lines: list[str]) -> dict | None:
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        number = rest.split()[0] if rest.split() else ""
        if number.isdigit():
            values[key.strip()] = int(number) * 1024
    if "MemTotal" not in values or "MemAvailable" not in values:
        return None
    total, available = values["MemTotal"], values["MemAvailable"]
    swap_total = values.get("SwapTotal", 0)
    return {"total_bytes": total, "available_bytes": available,
            "used_percent": round(100 * (total - available) / total) if total else None,
            "swap_total_bytes": swap_total, "swap_used_bytes": swap_total - values.get("SwapFree", swap_total)}


def parse_probe(host: str, text: str, layout: HostLayout) -> dict:
    """The report of one host from what probe_script printed there (the `--json` shape)."""
    found = sections(text)
    clock = "".join(found.get("now", [])).strip()
    now = datetime.fromtimestamp(int(clock), UTC) if clock.isdigit() else datetime.now(UTC)
    release_lines = [line for line in found.get("release", []) if line.strip()]
    release = None
    if release_lines:
        record = _json_line(release_lines[1:]) or {}
        release = {"id": release_lines[0].strip(), "image": record.get("image"),
                   "git_commit": record.get("git_commit"), "deployed_by": record.get("deployed_by"),
                   "created_at": record.get("created_at")}
    colour = "".join(found.get("colour", [])).strip() or None
    containers = _containers([line for line in found.get("containers", []) if line.strip()])
    serving = None
    if colour:
        serving = {"colour": colour, **containers.get(container(colour),
                                                      {"container": container(colour), "state": "missing",
                                                       "health": None, "started_at": None, "image": None,
                                                       "error": None})}
    edge = "".join(found.get("edge", [])).split()
    server_name = edge[0] if len(edge) == 2 else ""
    tls_on = bool(edge) and edge[-1] == "yes"
    return {
        "host": host,
        "reachable": True,
        "checked_at": _stamp(now),
        "release": release,
        "serving": serving,
        "server_name": server_name or None,
        "tls": tls_on,
        "health": _health(found.get("health", []), server_name, tls_on),
        "certificate": _certificate(found.get("certificate", []), now) if tls_on else None,
        "backups": _backups(_json_line(found.get("backup-config", [])), _json_line(found.get("backup-run", [])),
                            _json_line(found.get("drill", [])), found.get("dumps", []), now),
        "disk": _disk(found.get("disk", []), layout.data_dir),
        "memory": _memory(found.get("memory", [])),
        "services": {label: containers.get(name, {"container": name, "state": "unknown", "health": None,
                                                  "started_at": None, "image": None, "error": None})
                     for label, name in SERVICES.items()},
        "failed_units": [line.split()[0] for line in found.get("failed-units", []) if line.strip()],
        "lock": _lock("\n".join(found.get("lock", []))),
    }


def _lock(text: str) -> dict | None:
    held = lock.parse_inspect(text)
    if held is None:
        return None
    return {"owner": held.owner, "age_seconds": held.age_seconds,
            "stale": held.age_seconds >= LOCK_STALE_SECONDS}


def unreachable(host: str, error: str) -> dict:
    return {"host": host, "reachable": False, "error": error}


# --- the rules ---------------------------------------------------------------------------------

def attention(report: dict, thresholds: Thresholds = Thresholds()) -> list[str]:
    """Each thing on the host that needs someone, one line each, naming the cause."""
    if not report["reachable"]:
        return [f"unreachable: {report['error']}"]
    causes = []
    if report["release"] is None:
        causes.append(no_release_message(report["host"]).removeprefix(f"{report['host']} has "))
    health = report["health"]
    if not health["ok"]:
        answer = f"answered {health['status']}" if health["status"] else "got no answer"
        causes.append(f"health failing: {health['url']} through nginx {answer}: {_short(health['body'])}")
    for label, service in report["services"].items():
        problem = _service_problem(service)
        if problem:
            causes.append(f"{label} ({service['container']}) {problem}")
    certificate = report["certificate"]
    if report["tls"] and certificate is None:
        causes.append("certificate unreadable: nginx served none on port 443 and tls-certificate.inc "
                      "names none; redeploy to put one in place")
    elif certificate and (certificate["days_left"] or 0) < thresholds.certificate_days:
        names = ", ".join(certificate["names"]) or certificate.get("subject") or "?"
        causes.append(f"certificate for {names} expires in {certificate['days_left']:g} days "
                      f"({certificate['not_after']}), under {thresholds.certificate_days:g}: renewal is "
                      "not keeping up (journalctl -u onehost-certbot-renew.service on the host)")
    causes += _backup_causes(report["backups"], thresholds)
    if report["failed_units"]:
        causes.append(f"failed systemd unit{'s' if len(report['failed_units']) > 1 else ''}: "
                      f"{', '.join(report['failed_units'])} (systemctl status UNIT on the host; "
                      "systemctl reset-failed UNIT clears it once fixed)")
    for path, disk in report["disk"].items():
        if disk["used_percent"] is not None and disk["used_percent"] >= thresholds.disk_percent:
            causes.append(f"disk {path} is {disk['used_percent']}% full ({format_bytes(disk['available_bytes'])} "
                          f"free), at or over {thresholds.disk_percent:g}%")
    held = report["lock"]
    if held and held["stale"]:
        causes.append(f"deploy lock held by {lock.HeldLock(held['owner'], held['age_seconds']).describe()}, "
                      f"longer than a deploy may take ({lock.format_age(LOCK_STALE_SECONDS)}): the next "
                      "deploy breaks it")
    return causes


def _service_problem(service: dict) -> str | None:
    if service["state"] == "missing":
        return "is not there"
    if service["state"] != "running":
        return f"is {service['state']}" + (f": {service['error']}" if service.get("error") else "")
    if service["health"] == "unhealthy":
        return "is unhealthy"
    return None


def _backup_causes(backups: dict, thresholds: Thresholds) -> list[str]:
    if not backups["configured"]:
        return []
    causes = []
    last, run, drill = backups["last"], backups["last_run"], backups["drill"]
    journal = "journalctl -u onehost-backup.service on the host"
    if last is None:
        causes.append("no backup yet: backups are on but none has been made (the nightly timer makes "
                      "one; sudo systemctl start onehost-backup.service on the host makes one now)")
    else:
        if last["age_hours"] > thresholds.backup_hours:
            causes.append(f"last backup is {format_duration(last['age_hours'] * 3600)} old "
                          f"({last['backup']}), over {thresholds.backup_hours:g} h ({journal})")
        if last["in_s3"] is False:
            causes.append(f"no backup has reached S3: the newest, {last['backup']}, is only on the host ({journal})")
    if run and not run["ok"]:
        causes.append(f"last backup run failed at {run['finished_at']}: {_short(run['error'] or '?')}")
    if drill and not drill["passed"]:
        causes.append(f"last restore drill failed at {drill['finished_at']}: {_short(drill['error'] or '?')}")
    return causes


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


# --- printing ----------------------------------------------------------------------------------

def format_bytes(count: int | None) -> str:
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def format_duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(seconds // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _ago(stamp: str | None, now: datetime) -> str:
    when = parse_time(stamp)
    return f"{format_duration((now - when).total_seconds())} ago" if when else "?"


def _rows(report: dict) -> list[tuple[str, str]]:
    now = parse_time(report["checked_at"]) or datetime.now(UTC)
    release, serving = report["release"], report["serving"]
    rows = []
    if release:
        commit = (release["git_commit"] or "unknown")[:12]
        rows.append(("release", f"{release['id']} (commit {commit}, by {release['deployed_by'] or '?'})"))
    else:
        rows.append(("release", "no release yet: deploy one first"))
    if serving:
        state = _state(serving["state"]) + (f", {serving['health']}" if serving["health"] else "")
        since = (f", since {serving['started_at'].replace('T', ' ').replace('Z', ' UTC')} "
                 f"({_ago(serving['started_at'], now)})" if serving["started_at"] else "")
        rows.append(("serving", f"{serving['colour']}: {serving['container']} {state}{since}"))
        rows.append(("image", serving["image"] or (release or {}).get("image") or "?"))
    else:
        rows.append(("serving", "nothing: nginx names no colour"))
    health = report["health"]
    rows.append(("health", f"{health['status'] or 'no answer'} {_short(health['body'], 120)} ({health['url']})"))
    certificate = report["certificate"]
    if not report["tls"]:
        rows.append(("certificate", "none: no TLS on this host"))
    elif certificate is None:
        rows.append(("certificate", "unreadable"))
    else:
        rows.append(("certificate", f"{', '.join(certificate['names']) or certificate['subject']}; "
                                    f"issuer {_issuer(certificate['issuer'])}; {certificate['days_left']:g} days left"
                                    f" ({certificate['not_after']})"))
    rows += _backup_rows(report["backups"], now)
    disks = [f"{path} {disk['used_percent']}% of {format_bytes(disk['size_bytes'])} "
             f"({format_bytes(disk['available_bytes'])} free)" for path, disk in report["disk"].items()]
    rows.append(("disk", "; ".join(disks) or "?"))
    memory = report["memory"]
    rows.append(("memory", f"{format_bytes(memory['total_bytes'] - memory['available_bytes'])} of "
                           f"{format_bytes(memory['total_bytes'])} used ({memory['used_percent']}%); swap "
                           f"{format_bytes(memory['swap_used_bytes'])} of {format_bytes(memory['swap_total_bytes'])}"
                 if memory else "?"))
    rows.append(("services", "; ".join(
        f"{label} {_state(service['state'])}" + (f" ({service['health']})" if service["health"] else "")
        for label, service in report["services"].items())))
    rows.append(("failed units", ", ".join(report["failed_units"]) or "none"))
    held = report["lock"]
    rows.append(("deploy lock", lock.HeldLock(held["owner"], held["age_seconds"]).describe() if held else "free"))
    return rows


def _state(state: str) -> str:
    return "not there" if state == "missing" else state


def _issuer(issuer: str | None) -> str:
    """`C=US, O=Let's Encrypt, CN=E6` (OpenSSL 3.5; older ones print `C = US, ...`) as `Let's Encrypt E6`."""
    if not issuer:
        return "?"
    fields = re.findall(r"(?:^|,)\s*([A-Za-z]+)\s*=\s*((?:[^,\\]|\\.)*)", issuer)
    short = " ".join(value.strip() for key, value in fields if key in ("O", "CN"))
    return short or issuer


def _backup_rows(backups: dict, now: datetime) -> list[tuple[str, str]]:
    if not backups["configured"]:
        return [("backup", "backups off (deploy with --data backup_bucket=... to turn them on)"), ("drill", "-")]
    last, run, drill = backups["last"], backups["last_run"], backups["drill"]
    if last is None:
        backup = "none yet"
    else:
        where = {True: f"in S3 ({backups['bucket']})", False: "not in S3", None: "S3 unknown"}[last["in_s3"]]
        backup = f"{_ago(last['finished_at'], now)}, {format_bytes(last['size'])}, {where}: {last['backup']}"
    if run and not run["ok"]:
        backup += f"; last run failed {_ago(run['finished_at'], now)}"
    if drill is None:
        drill_text = "never"
    else:
        drill_text = f"{_ago(drill['finished_at'], now)}, {'passed' if drill['passed'] else 'FAILED'}"
        if drill["backup"]:
            drill_text += f" ({drill['backup']})"
    return [("backup", backup), ("drill", drill_text)]


def format_report(report: dict) -> str:
    """The host's table, then each cause of attention on a line of its own (or `all well`)."""
    if not report["reachable"]:
        return f"{report['host']}: unreachable: {report['error']}"
    rows = _rows(report)
    width = max(len(key) for key, _ in rows)
    lines = [report["host"], *(f"  {key.ljust(width)}  {value}" for key, value in rows)]
    causes = report.get("attention", [])
    lines += [f"  attention: {cause}" for cause in causes] or ["  all well"]
    return "\n".join(lines)


def exit_code(reports: list[dict]) -> int:
    """0 when no host needs attention (and every host answered), 1 otherwise."""
    return 1 if any(report.get("attention") for report in reports) else 0


def json_document(reports: list[dict]) -> str:
    return json.dumps({"hosts": reports, "attention": any(report.get("attention") for report in reports)},
                      indent=2, sort_keys=True)
