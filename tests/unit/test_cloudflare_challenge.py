"""The first HTTP-01 issuance behind CloudFlare: the probe's curl command as an exact list, and the
answers it tells apart, on canned curl output (body, then `<status> <redirects> <final URL>`)."""

import pytest

from onehost.commands import cloudflare

TOKEN = "onehost-probe-0123456789abcdef"
NAME = "api.example.com"
# CloudFlare's error pages are HTML with the code in the title.
PAGE_526 = "<!DOCTYPE html><title>api.example.com | 526: Invalid SSL certificate</title>"


def curl_output(body: str, status: int, redirects: int, url: str) -> str:
    return f"{body}\n{status} {redirects} {url}"


def test_the_probe_fetches_the_challenge_path_as_lets_encrypt_does():
    assert cloudflare.challenge_probe_command(NAME, TOKEN) == [
        "curl", "--silent", "--location", "--max-redirs", "10", "--proto-redir", "=http,https",
        "--insecure", "--max-time", "10", "--write-out", "\n%{http_code} %{num_redirects} %{url_effective}",
        f"http://{NAME}/.well-known/acme-challenge/{TOKEN}"]


def test_always_use_https_with_full_strict_is_named_with_the_fix():
    https_url = f"https://{NAME}/.well-known/acme-challenge/{TOKEN}"
    answer = cloudflare.parse_probe(curl_output(PAGE_526, 526, 1, https_url))
    assert answer == cloudflare.ProbeAnswer(526, 1, https_url, PAGE_526)
    problem = cloudflare.challenge_blocked(NAME, TOKEN, answer)
    assert problem.startswith(f"Let's Encrypt cannot validate {NAME}: http://{NAME}/.well-known/acme-challenge/"
                              f"{TOKEN} was redirected to {https_url} (CloudFlare's \"Always Use HTTPS\") and "
                              "ends in CloudFlare's error 526 (Invalid SSL certificate).")
    for fix in ('set SSL/TLS mode to "Full" (not strict)', 'turn "Always Use HTTPS" off', "DNS-01"):
        assert fix in problem


@pytest.mark.parametrize(("status", "redirects", "url", "meaning"), [
    # "Strict (SSL-Only Origin Pull)" goes to the origin over HTTPS without a redirect.
    (526, 0, f"http://{NAME}/.well-known/acme-challenge/{TOKEN}", "Invalid SSL certificate"),
    (525, 1, f"https://{NAME}/.well-known/acme-challenge/{TOKEN}", "SSL handshake failed"),
    (521, 1, f"https://{NAME}/.well-known/acme-challenge/{TOKEN}", "the origin did not answer"),
])
def test_other_cloudflare_origin_errors_are_named(status, redirects, url, meaning):
    answer = cloudflare.parse_probe(curl_output(f"error code: {status}", status, redirects, url))
    assert f"CloudFlare's error {status} ({meaning})" in cloudflare.challenge_blocked(NAME, TOKEN, answer)


@pytest.mark.parametrize("output", [
    curl_output(TOKEN, 200, 0, f"http://{NAME}/.well-known/acme-challenge/{TOKEN}"),
    # Full (not strict) accepts the placeholder: the token comes back over HTTPS.
    curl_output(TOKEN, 200, 1, f"https://{NAME}/.well-known/acme-challenge/{TOKEN}"),
    # No DNS yet, a firewall, another web server: not CloudFlare's case; certbot says what failed.
    curl_output("", 0, 0, f"http://{NAME}/.well-known/acme-challenge/{TOKEN}"),
    curl_output("<html>404 Not Found</html>", 404, 0, f"http://{NAME}/.well-known/acme-challenge/{TOKEN}"),
    curl_output("", 521, 0, f"http://{NAME}/.well-known/acme-challenge/{TOKEN}"),
    "curl: (6) Could not resolve host",
])
def test_anything_else_is_left_to_certbot(output):
    assert cloudflare.challenge_blocked(NAME, TOKEN, cloudflare.parse_probe(output)) is None
