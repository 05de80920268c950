"""certbot renews the edge's certificates from /data twice a day; Debian's own timer does not run."""

import re


def test_renewal_runs_twice_a_day(image_host):
    timer = image_host.service("onehost-certbot-renew.timer")
    assert timer.is_enabled and timer.is_running
    calendar = image_host.check_output(
        "systemctl show onehost-certbot-renew.timer --property TimersCalendar --value")
    assert re.search(r"OnCalendar=\*-\*-\* 00,12:00:00", calendar), calendar


def test_debians_timer_for_etc_letsencrypt_is_masked(image_host):
    # It would renew /etc/letsencrypt (empty here) without reloading nginx.
    state = image_host.run("systemctl is-enabled certbot.timer").stdout.strip()
    assert state == "masked"


def test_renewal_without_certificates_is_skipped_not_failed(image_host):
    if image_host.file("/data/letsencrypt/renewal").is_directory:
        return  # a host with certificates: tests/host/test_tls.py renews them for real
    result = image_host.run("systemctl start onehost-certbot-renew.service")
    assert result.rc == 0, result.stderr
    assert image_host.run("systemctl is-failed onehost-certbot-renew.service").stdout.strip() != "failed"
