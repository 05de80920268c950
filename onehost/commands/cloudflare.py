"""CloudFlare in front of the host: the edge ranges whose CF-Connecting-IP header nginx trusts."""

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

# The list the edge ships, beside its templates (nginx/ at the repository root).
RANGES_FILE = Path(__file__).resolve().parents[2] / "nginx" / "cloudflare-ips.txt"


@dataclass(frozen=True)
class Ranges:
    taken: str                 # the date the list was taken (YYYY-MM-DD)
    networks: tuple[str, ...]  # CIDRs, IPv4 then IPv6, as published


def parse_ranges(text: str, source: str = str(RANGES_FILE)) -> Ranges:
    """The list's date (a `# taken: YYYY-MM-DD` line) and its CIDRs, each checked."""
    taken = re.search(r"^# taken: (\d{4}-\d{2}-\d{2})$", text, re.MULTILINE)
    if not taken:
        raise ValueError(f"{source} has no '# taken: YYYY-MM-DD' line saying when the list was taken")
    networks = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            networks.append(str(ipaddress.ip_network(line)))
        except ValueError:
            raise ValueError(f"{source}: {line!r} is not an address range (CIDR)") from None
    if not networks:
        raise ValueError(f"{source} lists no address ranges")
    return Ranges(taken[1], tuple(networks))


def shipped_ranges() -> Ranges:
    return parse_ranges(RANGES_FILE.read_text())


# --- The first HTTP-01 issuance behind CloudFlare -------------------------------------------
# Let's Encrypt fetches http://<name>/.well-known/acme-challenge/<token>, follows up to 10
# redirects to http: or https: on ports 80 and 443, and does not check certificates on the way
# (https://letsencrypt.org/docs/challenge-types/). CloudFlare's "Always Use HTTPS" answers that
# request with a redirect to https (https://developers.cloudflare.com/ssl/edge-certificates/additional-options/always-use-https/);
# in SSL/TLS mode "Full" CloudFlare then connects to the host over HTTPS, and "Full (strict)"
# also demands a certificate from a public CA (or CloudFlare's Origin CA) that covers the name
# (https://developers.cloudflare.com/ssl/origin-configuration/ssl-modes/full-strict/). Before the
# first issuance the host serves a self-signed placeholder, so CloudFlare answers 526 "Invalid
# SSL certificate" (or 525 "SSL handshake failed") and the challenge can never pass
# (https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-526/).
# The deploy fetches the challenge path the same way before asking certbot (challenge_probe_command)
# and names the fix (challenge_blocked).

PROBE_PATH = "/.well-known/acme-challenge/"
# curl prints this after the body: the final status, how many redirects it followed, the final URL.
PROBE_SUMMARY = "\n%{http_code} %{num_redirects} %{url_effective}"
ORIGIN_TLS_ERRORS = {525: "SSL handshake failed", 526: "Invalid SSL certificate"}
# CloudFlare's own answers when it cannot get a good answer from the origin (52x).
ORIGIN_ERRORS = {520, 521, 522, 523, 524, 525, 526, 527, 530}


@dataclass(frozen=True)
class ProbeAnswer:
    status: int          # 0: no HTTP answer at all (DNS, connection)
    redirects: int
    final_url: str
    body: str


def challenge_url(name: str, token: str) -> str:
    return f"http://{name}{PROBE_PATH}{token}"


def challenge_probe_command(name: str, token: str) -> list[str]:
    """curl on the host, fetching the challenge path as Let's Encrypt does: plain HTTP first,
    redirects followed (at most 10, http and https only), certificates not checked."""
    return ["curl", "--silent", "--location", "--max-redirs", "10", "--proto-redir", "=http,https",
            "--insecure", "--max-time", "10", "--write-out", PROBE_SUMMARY, challenge_url(name, token)]


def parse_probe(output: str) -> ProbeAnswer:
    """The body and the summary line curl wrote after it (PROBE_SUMMARY)."""
    body, _, summary = output.rpartition("\n")
    parts = summary.split(" ", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return ProbeAnswer(0, 0, "", output)
    return ProbeAnswer(int(parts[0]), int(parts[1]), parts[2], body)


def challenge_blocked(name: str, token: str, answer: ProbeAnswer) -> str | None:
    """Why Let's Encrypt cannot validate `name` through CloudFlare, with what to do; None when the
    token came back, or when the answer is not one of CloudFlare's (certbot then says what failed)."""
    if answer.body.strip() == token:
        return None
    over_https = answer.final_url.startswith("https://")
    if answer.status not in ORIGIN_TLS_ERRORS and not (over_https and answer.status in ORIGIN_ERRORS):
        return None
    meaning = ORIGIN_TLS_ERRORS.get(answer.status, "the origin did not answer")
    route = (f"was redirected to {answer.final_url} (CloudFlare's \"Always Use HTTPS\") and "
             if answer.redirects and over_https else "")
    return (f"Let's Encrypt cannot validate {name}: {challenge_url(name, token)} {route}ends in "
            f"CloudFlare's error {answer.status} ({meaning}). CloudFlare reaches this host over HTTPS, "
            "and SSL/TLS mode \"Full (strict)\" refuses the self-signed placeholder nginx serves until "
            "the first certificate is issued. For the first issuance, in CloudFlare's dashboard set "
            "SSL/TLS mode to \"Full\" (not strict) or turn \"Always Use HTTPS\" off, deploy again, then "
            "set \"Full (strict)\" back; or get the certificate with a DNS-01 challenge instead "
            "(docs/how-to/tls.md, \"CloudFlare\")")
