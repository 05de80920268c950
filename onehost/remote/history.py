"""`onehost releases`: the releases on each host and the history of deploys and rollbacks.

Reads, over SSH as the deploy does, `/data/releases/*/release.json`, the `current` and
`previous` links and `/data/history.jsonl`; prints them as tables. Changes nothing.
"""
# The SSH is onehost/remote/session.py's; the paths are HostLayout's (onehost/commands/switch.py).

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime

from onehost.commands.switch import HostLayout

SECTION = "== "


def remote_report(layout: HostLayout, history_lines: int) -> str:
    """A POSIX sh script printing the links, each release.json on one line, then the history tail."""
    releases = shlex.quote(layout.releases)
    history = shlex.quote(layout.history_file)
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
