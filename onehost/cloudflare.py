"""CloudFlare in front of the host: the edge ranges whose CF-Connecting-IP header nginx trusts."""

import ipaddress
import re
from dataclasses import dataclass

from onehost.paths import REPO_ROOT

RANGES_FILE = REPO_ROOT / "nginx" / "cloudflare-ips.txt"


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
