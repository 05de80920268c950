"""`onehost status`'s host side: the probe over SSH on each host at once, read into reports."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from onehost.commands.host_status import Thresholds, attention, parse_probe, probe_script, unreachable
from onehost.commands.switch import HostLayout
from onehost.local.shell import CommandFailed
from onehost.remote.session import HostSession

# ssh exits with the remote command's status, or 255 when ssh itself failed (ssh(1), EXIT STATUS:
# https://man.openbsd.org/ssh#EXIT_STATUS); the probe script always exits 0.
SSH_FAILED = 255
PROBE_TIMEOUT_SECONDS = 60


def last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def probe(session: HostSession, script: str, layout: HostLayout, thresholds: Thresholds) -> dict:
    """One host's report with its causes of attention; an unreachable host's report says why."""
    try:
        result = session.run(script, capture=True, check=False, timeout=PROBE_TIMEOUT_SECONDS)
    except CommandFailed:
        report = unreachable(session.name, f"no answer within {PROBE_TIMEOUT_SECONDS} s")
    else:
        if result.returncode == SSH_FAILED:
            report = unreachable(session.name, last_line(result.stderr))
        elif result.returncode != 0:
            report = unreachable(session.name, f"the status script failed there (exit {result.returncode}): "
                                               f"{last_line(result.stderr)}")
        else:
            report = parse_probe(session.name, result.stdout.decode(errors="replace"), layout)
    report["attention"] = attention(report, thresholds)
    return report


def host_reports(sessions: list[HostSession], layout: HostLayout, thresholds: Thresholds) -> list[dict]:
    """Every host at once (each is one SSH round trip), reported in the inventory's order."""
    script = probe_script(layout)
    if not sessions:
        return []
    with ThreadPoolExecutor(max_workers=min(len(sessions), 8)) as pool:
        return list(pool.map(lambda session: probe(session, script, layout, thresholds), sessions))
