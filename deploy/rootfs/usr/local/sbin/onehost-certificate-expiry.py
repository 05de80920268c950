#!/usr/bin/python3
"""onehost-certificate-expiry.py: publish the days left on the edge's TLS certificate to CloudWatch.

    onehost-certificate-expiry.py [--letsencrypt-dir DIR] [--config FILE]

Reads every certificate certbot keeps (<letsencrypt-dir>/live/<name>/cert.pem), takes the one
that expires first, and publishes CertificateDaysToExpiry (days, fractional) with the backup
heartbeat's namespace and Host dimension, which the stack's CertificateExpiryAlarm watches. Run
by onehost-certbot-renew after every renewal attempt, renewed or not, so the metric needs no log
line to warn that renewals keep failing.

Settings (namespace, Host, region, endpoint, credentials) are the backup heartbeat's: the deploy
writes them to /data/backups/config.json (deploy/tasks/backups.py). Nothing is published, and
the exit status is 0, when there is no certificate (no TLS on this host) or no such settings
(backups off: the renewal's log alarm still counts failures); an unreadable certificate or a
refused upload exits 1 with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_LETSENCRYPT_DIR = "/data/letsencrypt"
DEFAULT_CONFIG = "/data/backups/config.json"
METRIC = "CertificateDaysToExpiry"
SECONDS_A_DAY = 86400


class ExpiryError(Exception):
    """What went wrong, with the file or service named."""


# ----------------------------------------------------------------------------- pure parts

def days_to_expiry(pem: bytes, now: datetime) -> float:
    """Days from `now` to the certificate's notAfter (negative once it has expired)."""
    from cryptography import x509
    certificate = x509.load_pem_x509_certificate(pem)
    return (certificate.not_valid_after_utc - now).total_seconds() / SECONDS_A_DAY


def certificate_paths(letsencrypt_dir: Path) -> list[Path]:
    """certbot's current certificate of each lineage: live/<name>/cert.pem (certbot User Guide,
    "Where are my certificates?", https://eff-certbot.readthedocs.io/en/stable/using.html);
    the deploy's placeholder and certbot's archive are elsewhere."""
    return sorted(letsencrypt_dir.glob("live/*/cert.pem"))


def soonest_expiry(paths: list[Path], now: datetime) -> tuple[Path, float] | None:
    """The certificate that expires first and its days left; None without certificates."""
    found = []
    for path in paths:
        try:
            found.append((days_to_expiry(path.read_bytes(), now), path))
        except (OSError, ValueError) as error:
            raise ExpiryError(f"cannot read the certificate {path}: {error}") from None
    if not found:
        return None
    days, path = min(found)
    return path, days


def metric_data(host: str, days: float) -> list[dict]:
    return [{"MetricName": METRIC, "Dimensions": [{"Name": "Host", "Value": host}],
             "Value": round(days, 3), "Unit": "None"}]


def load_settings(path: Path) -> dict | None:
    """The heartbeat's settings from the backup config; None when there is none."""
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise ExpiryError(f"{path} is not JSON: {error}") from None
    missing = [name for name in ("host", "namespace") if not values.get(name)]
    if missing:
        raise ExpiryError(f"{path} lacks {', '.join(missing)}")
    return values


# ----------------------------------------------------------------------------- the world

def cloudwatch_client(settings: dict):
    """Credentials as onehost-backup finds them: the instance role on EC2, elsewhere the AWS
    credentials file the deploy put beside the backup settings."""
    import boto3
    from botocore.config import Config
    credentials = Path(settings.get("backup_dir", "/data/backups")) / "aws-credentials"
    if credentials.is_file():
        os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    config = Config(region_name=settings.get("region"), connect_timeout=5, read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("cloudwatch", config=config, endpoint_url=settings.get("endpoint_url"))


def publish(settings: dict, days: float) -> None:
    from botocore.exceptions import BotoCoreError, ClientError
    try:
        cloudwatch_client(settings).put_metric_data(Namespace=settings["namespace"],
                                                    MetricData=metric_data(settings["host"], days))
    except (BotoCoreError, ClientError) as error:
        raise ExpiryError(f"publishing {METRIC} to CloudWatch failed: {error}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="onehost-certificate-expiry.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--letsencrypt-dir", default=os.environ.get("LETSENCRYPT_DIR", DEFAULT_LETSENCRYPT_DIR),
                        help=f"certbot's config directory (default {DEFAULT_LETSENCRYPT_DIR})")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help=f"the backup heartbeat's settings (default {DEFAULT_CONFIG})")
    args = parser.parse_args(argv)
    try:
        soonest = soonest_expiry(certificate_paths(Path(args.letsencrypt_dir)), datetime.now(UTC))
        if soonest is None:
            print(f"onehost-certificate-expiry: no certificate under {args.letsencrypt_dir}/live: nothing to publish")
            return 0
        path, days = soonest
        settings = load_settings(Path(args.config))
        if settings is None:
            print(f"onehost-certificate-expiry: {path} expires in {days:.1f} days; not published: no metric "
                  f"settings in {args.config} (deploy with --data backup_bucket=... to write them)")
            return 0
        publish(settings, days)
        print(f"onehost-certificate-expiry: {path} expires in {days:.1f} days; {METRIC} published "
              f"({settings['namespace']}, Host={settings['host']})")
        return 0
    except ExpiryError as error:
        print(f"onehost-certificate-expiry: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
