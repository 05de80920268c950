"""`onehost releases`: the releases on each host and the history of deploys and rollbacks.

Reads, over SSH as the deploy does, `/data/releases/*/release.json`, the `current` and
`previous` links and `/data/history.jsonl`; prints them as tables. Changes nothing.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime

SECTION = "== "


def remote_report(data_dir: str, history_lines: int) -> str:
    """A POSIX sh script printing the links, each release.json on one line, then the history tail."""
    releases = shlex.quote(f"{data_dir}/releases")
    history = shlex.quote(f"{data_dir}/history.jsonl")
    return "; ".join([
        f"echo '{SECTION}current'; readlink {releases}/current",
        f"echo '{SECTION}previous'; readlink {releases}/previous",
        f"echo '{SECTION}releases'",
        f"for dir in {releases}/*/; do [ -L \"${{dir%/}}\" ] && continue; "
        "[ -f \"$dir/release.json\" ] || continue; "
        "printf '%s %s\\n' \"$(stat -c %Y \"$dir\")\" \"$(tr -d '\\n' < \"$dir/release.json\")\"; done",
        f"echo '{SECTION}history'; tail -n {int(history_lines)} {history} 2>/dev/null",
        "true",
    ])


def ssh_command(hostname: str, data: dict, remote: str) -> list[str]:
    """ssh with the inventory's connection settings; sudo because /data is root's."""
    command = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    if data.get("ssh_port"):
        command += ["-p", str(data["ssh_port"])]
    if data.get("ssh_key"):
        command += ["-i", str(data["ssh_key"])]
    if data.get("ssh_known_hosts_file"):
        command += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    if data.get("ssh_strict_host_key_checking"):
        command += ["-o", f"StrictHostKeyChecking={data['ssh_strict_host_key_checking']}"]
    if data.get("ssh_config_file"):  # an EC2 host: its ProxyCommand and pinned keys (onehost.commands.reach)
        command += ["-F", str(data["ssh_config_file"])]
    target = data.get("ssh_hostname", hostname)
    user = data.get("ssh_user")
    command.append(f"{user}@{target}" if user else target)
    command.append("sudo sh -c " + shlex.quote(remote))
    return command


def parse_report(text: str) -> dict:
    sections: dict[str, list[str]] = {"current": [], "previous": [], "releases": [], "history": []}
    name = None
    for line in text.splitlines():
        if line.startswith(SECTION):
            name = line[len(SECTION):].strip()
        elif name in sections and line.strip():
            sections[name].append(line)
    releases = []
    for line in sections["releases"]:
        epoch, _, record = line.partition(" ")
        try:
            releases.append((int(epoch), json.loads(record)))
        except ValueError:
            continue
    history = []
    for line in sections["history"]:
        try:
            history.append(json.loads(line))
        except ValueError:
            continue
    link = lambda key: sections[key][0].rsplit("/", 1)[-1] if sections[key] else None  # noqa: E731
    return {"current": link("current"), "previous": link("previous"),
            "releases": sorted(releases, key=lambda row: row[0]), "history": history}


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
             for row in [headers, *rows]]
    return "\n".join(lines)


def when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def format_releases(report: dict) -> str:
    if not report["releases"]:
        return "no releases"
    rows = []
    for epoch, record in reversed(report["releases"]):
        release = record.get("id", "?")
        mark = {report["current"]: "current", report["previous"]: "previous"}.get(release, "")
        rows.append([release, mark, when(epoch), record.get("image", "?"),
                     (record.get("git_commit") or "")[:10], record.get("deployed_by", "")])
    return table(["RELEASE", "", "CREATED (UTC)", "IMAGE", "COMMIT", "BY"], rows)


def format_history(report: dict) -> str:
    if not report["history"]:
        return "no deploys yet"
    rows = []
    for entry in reversed(report["history"]):
        result = entry.get("result", "?")
        if entry.get("error"):
            error = entry["error"].removeprefix(f"{entry.get('action')} of {entry.get('release')} ")
            result += ": " + (error[:70] + "..." if len(error) > 70 else error)
        rows.append([entry.get("started_at", "?"), entry.get("action", "?"), entry.get("release", "?"),
                     f"{entry.get('seconds', '?')} s", entry.get("who", "?"), result])
    return table(["STARTED", "ACTION", "RELEASE", "TOOK", "WHO", "RESULT"], rows)
