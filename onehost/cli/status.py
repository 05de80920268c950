"""`onehost status`: every host's state, and whether something needs attention.

    onehost status                    each host of the inventory, as a table
    onehost status --host web-1       one of them
    onehost status --json             one JSON document for all hosts, for machines

Per host: the release that serves (its colour, image, since when, the git commit), /health/
through nginx, the certificate nginx serves (names, issuer, days left), the last backup (age,
size, whether it reached S3) and the last restore drill, disk use of / and the data volume,
memory, failed systemd units, and the deploy lock when held. One SSH round trip per host, with
the inventory's connection settings (the local instance, ONEHOST_HOSTS, or EC2 by ONEHOST_TAGS).

Exits 1 when something needs attention, each cause on a line of its own: /health/ failing,
nginx or PostgreSQL not running, a certificate with under 14 days left, a last backup older
than 26 hours (only where backups are configured), a failed backup run or drill, a failed
systemd unit, a disk 90% full, a stale deploy lock, a host with no release yet, a host that
cannot be reached. Exits 0 when all is well: it can run from cron or a workflow.
`onehost instance status` stays what it is: the local instance's container and its ports.
"""

from __future__ import annotations

import argparse

from onehost.commands import host_status
from onehost.commands.host_defaults import DATA_DIR
from onehost.commands.live import layout_at
from onehost.remote.host_status import host_reports
from onehost.remote.session import chosen_sessions


def show(args) -> int:
    thresholds = host_status.Thresholds(certificate_days=args.certificate_days, backup_hours=args.backup_hours,
                                        disk_percent=args.disk_percent)
    reports = host_reports(chosen_sessions(args.host), layout_at(args.data_dir), thresholds)
    if args.json:
        print(host_status.json_document(reports))
    else:
        print("\n\n".join(host_status.format_report(report) for report in reports))
    return host_status.exit_code(reports)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "status", help="each host's release, health, certificate, backups, disk, memory, failed units, lock",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", help="only this inventory host (default: all of them)")
    parser.add_argument("--json", action="store_true", help="one JSON document for all hosts")
    parser.add_argument("--certificate-days", type=float, default=host_status.CERTIFICATE_MIN_DAYS, metavar="DAYS",
                        help=f"attention when the certificate has fewer days left "
                             f"(default {host_status.CERTIFICATE_MIN_DAYS})")
    parser.add_argument("--backup-hours", type=float, default=host_status.BACKUP_MAX_AGE_HOURS, metavar="HOURS",
                        help=f"attention when the last backup is older (default {host_status.BACKUP_MAX_AGE_HOURS})")
    parser.add_argument("--disk-percent", type=float, default=host_status.DISK_MAX_PERCENT, metavar="PERCENT",
                        help=f"attention when a disk is this full (default {host_status.DISK_MAX_PERCENT})")
    parser.add_argument("--data-dir", default=DATA_DIR, help=f"the hosts' data directory (default {DATA_DIR})")
    parser.set_defaults(func=show)
