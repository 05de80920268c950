"""onehost-certificate-expiry.py as the renewal runs it: a real certificate file in certbot's
layout, the backup heartbeat's settings, moto's CloudWatch; the days left arrive as the
metric the stack's CertificateExpiryAlarm watches, and a host without a certificate publishes
nothing."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.certificates import EXPIRY_SCRIPT, certbot_lineage, days_from_now

HOST = "timewarp-production"


@pytest.fixture
def host_files(aws, tmp_path):
    config = tmp_path / "backups" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"bucket": "timewarp-backups", "database": "timewarp", "db_user": "timewarp",
                                  "host": HOST, "namespace": "onehost", "region": "eu-west-1",
                                  "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
                                  "backup_dir": str(config.parent)}))
    return tmp_path / "letsencrypt", config


def run_script(letsencrypt_dir, config):
    # The venv's interpreter in place of the host's /usr/bin/python3 (boto3 and cryptography, as there).
    return subprocess.run([sys.executable, str(EXPIRY_SCRIPT), "--letsencrypt-dir", str(letsencrypt_dir),
                           "--config", str(config)], capture_output=True, text=True, timeout=60)


def published(aws) -> list[float]:
    now = datetime.now(UTC)
    answer = aws.client("cloudwatch").get_metric_statistics(
        Namespace="onehost", MetricName="CertificateDaysToExpiry", Dimensions=[{"Name": "Host", "Value": HOST}],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=86400,
        Statistics=["Minimum"])
    return [point["Minimum"] for point in answer["Datapoints"]]


def test_the_soonest_certificates_days_reach_cloudwatch(aws, host_files):
    letsencrypt_dir, config = host_files
    certbot_lineage(letsencrypt_dir, "shop.example.com", days_from_now(75))
    certbot_lineage(letsencrypt_dir, "api.example.com", days_from_now(12))
    result = run_script(letsencrypt_dir, config)
    assert result.returncode == 0, result.stderr
    assert "api.example.com/cert.pem expires in 12.0 days; CertificateDaysToExpiry published" in result.stdout
    [days] = published(aws)
    assert 11.99 < days <= 12.0


def test_a_host_without_a_certificate_publishes_nothing(aws, host_files):
    letsencrypt_dir, config = host_files
    result = run_script(letsencrypt_dir, config)
    assert (result.returncode, result.stderr) == (0, "")
    assert "no certificate under" in result.stdout
    assert published(aws) == []
    assert aws.client("cloudwatch").list_metrics(Namespace="onehost")["Metrics"] == []
