"""The certificate-expiry metric's pure parts (days from a real PEM, the soonest of several
lineages, the metric's exact data), and the renewal script around it: it runs the metric after
every attempt and logs the line the stack's filter counts when certbot fails."""

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from tests.certificates import RENEW_SCRIPT, certbot_lineage, load_expiry_script, self_signed
from tests.tools import stack_template

expiry = load_expiry_script()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_days_to_expiry_from_a_pem():
    assert expiry.days_to_expiry(self_signed("shop.example.com", NOW + timedelta(days=20, hours=12)), NOW) == 20.5
    assert expiry.days_to_expiry(self_signed("old.example.com", NOW - timedelta(days=2)), NOW) == -2


def test_the_soonest_lineage_counts_and_the_placeholder_does_not(tmp_path):
    certbot_lineage(tmp_path, "shop.example.com", NOW + timedelta(days=60))
    soon = certbot_lineage(tmp_path, "api.example.com", NOW + timedelta(days=9))
    # The deploy's self-signed placeholder lives outside live/: not certbot's to renew.
    (tmp_path / "placeholder").mkdir()
    (tmp_path / "placeholder" / "fullchain.pem").write_bytes(self_signed("x", NOW + timedelta(days=1)))
    (tmp_path / "live" / "README").write_text("certbot's own note\n")
    paths = expiry.certificate_paths(tmp_path)
    assert [path.parent.name for path in paths] == ["api.example.com", "shop.example.com"]
    assert expiry.soonest_expiry(paths, NOW) == (soon, 9)


def test_no_certificate_is_nothing_to_publish(tmp_path):
    assert expiry.soonest_expiry(expiry.certificate_paths(tmp_path), NOW) is None


def test_a_damaged_certificate_is_named(tmp_path):
    broken = tmp_path / "live" / "shop.example.com" / "cert.pem"
    broken.parent.mkdir(parents=True)
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(expiry.ExpiryError, match=f"cannot read the certificate {broken}"):
        expiry.soonest_expiry([broken], NOW)


def test_the_metric_has_the_heartbeats_dimension():
    assert expiry.metric_data("timewarp-production", 20.12345) == [
        {"MetricName": "CertificateDaysToExpiry", "Dimensions": [{"Name": "Host", "Value": "timewarp-production"}],
         "Value": 20.123, "Unit": "None"}]


def test_settings_come_from_the_backup_config(tmp_path):
    config = tmp_path / "config.json"
    assert expiry.load_settings(config) is None
    config.write_text(json.dumps({"host": "timewarp-production", "namespace": "onehost", "region": "eu-west-1"}))
    assert expiry.load_settings(config)["host"] == "timewarp-production"
    config.write_text(json.dumps({"namespace": "onehost"}))
    with pytest.raises(expiry.ExpiryError, match="lacks host"):
        expiry.load_settings(config)


@pytest.fixture
def renew(tmp_path):
    """Run the renewal script with a stand-in certbot (exit status given) and a stand-in metric
    script that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    metric_calls = tmp_path / "metric-calls"

    def run(certbot_status: int, metric_status: int = 0):
        (bin_dir / "certbot").write_text(f"#!/bin/sh\necho \"certbot $*\"\nexit {certbot_status}\n")
        (bin_dir / "metric").write_text(f"#!/bin/sh\necho \"$*\" >> {metric_calls}\nexit {metric_status}\n")
        for name in ("certbot", "metric"):
            (bin_dir / name).chmod(0o755)
        environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LETSENCRYPT_DIR": str(tmp_path / "letsencrypt"),
                   "EXPIRY_METRIC": str(bin_dir / "metric")}
        result = subprocess.run([str(RENEW_SCRIPT), "--force-renewal"], env=environ, capture_output=True,
                                text=True, timeout=30)
        calls = metric_calls.read_text().splitlines() if metric_calls.exists() else []
        metric_calls.unlink(missing_ok=True)
        return result, calls

    return run


def test_a_failed_renewal_still_publishes_the_days_left_and_logs_the_counted_line(renew, tmp_path):
    result, calls = renew(certbot_status=1)
    assert result.returncode == 1
    assert calls == [f"--letsencrypt-dir {tmp_path / 'letsencrypt'}"]
    assert result.stderr.splitlines()[-1].startswith("onehost-certbot-renew: certificate renewal failed; ")


def test_a_renewal_publishes_the_days_left_and_a_metric_failure_does_not_fail_it(renew):
    result, calls = renew(certbot_status=0)
    assert (result.returncode, len(calls)) == (0, 1)
    assert "--force-renewal" in result.stdout
    result, calls = renew(certbot_status=0, metric_status=1)
    assert (result.returncode, len(calls)) == (0, 1)
    assert "the certificate's days to expiry were not published" in result.stderr
    assert "renewal failed" not in result.stderr


def test_the_filter_counts_exactly_the_scripts_failure_line(renew):
    pattern = stack_template()["Resources"]["CertificateRenewalFailuresFilter"]["Properties"]["FilterPattern"]
    result, _ = renew(certbot_status=1)
    # A quoted phrase in a filter pattern matches that exact text anywhere in the event.
    assert pattern.startswith('"') and pattern.endswith('"')
    assert [line for line in result.stderr.splitlines() if pattern.strip('"') in line] == [
        result.stderr.splitlines()[-1]]
    assert os.access(RENEW_SCRIPT, os.X_OK)
