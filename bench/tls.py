"""TLS figures on a fresh local instance with a local ACME server (pebble, as in the host tests).

    .venv/bin/python bench/tls.py [--renewals 3] [--keep]

Prints the seconds of a first deploy with tls=letsencrypt (the certificate included), of a forced
renewal, the TLS handshake time, and the requests that failed or were retried while renewals
swapped the certificate under a constant load (half of it from keep-alive clients).
"""

import argparse
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import BENCH_ENV, fresh_bench_instance
from onehost.local import instance
from onehost.local.loadgen import LoadGenerator
from onehost.remote.deploys import run_deploy
from tests.host.acme import DIRECTORY_URL, AcmeServer

DOMAIN = "timewarp.test"


def handshake_ms(port: int, context: ssl.SSLContext, count: int = 50) -> float:
    """Median time of a TCP connect plus a full TLS handshake (no session resumption)."""
    times = []
    for _ in range(count):
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=DOMAIN):
                times.append((time.monotonic() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renewals", type=int, default=3, help="forced renewals under load (default 3)")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    config = fresh_bench_instance("timewarp:bench-v1", "timewarp:bench-v2")
    workdir = Path(tempfile.mkdtemp(prefix="onehost-bench-acme-"))
    acme = AcmeServer(config.name, workdir)
    acme.start()
    try:
        data = {"image": "timewarp:bench-v1", "tls": "letsencrypt", "server_names": json.dumps([DOMAIN]),
                "letsencrypt_email": f"ops@{DOMAIN}", "acme_server": DIRECTORY_URL,
                "acme_ca_bundle": str(acme.ca_bundle)}
        start = time.monotonic()
        run_deploy("deploy.py", data, environ=BENCH_ENV, capture=True, timeout=900)
        first = time.monotonic() - start
        roots = workdir / "pebble-root.pem"
        roots.write_text(acme.issuing_roots())
        context = ssl.create_default_context(cafile=str(roots))
        handshake = handshake_ms(config.https_port, context)

        url = f"https://{DOMAIN}:{config.https_port}/health/"
        load = LoadGenerator(url, rate=50, max_seconds=300, persistent_clients=4, connect_to="127.0.0.1",
                             ca_file=str(roots)).start()
        renewals = []
        try:
            time.sleep(2)   # steady load before the first renewal
            for _ in range(args.renewals):
                start = time.monotonic()
                subprocess.run(["docker", "exec", config.name, "/usr/local/sbin/onehost-certbot-renew",
                                "--force-renewal"], check=True, capture_output=True, timeout=300)
                renewals.append(time.monotonic() - start)
                time.sleep(2)
        finally:
            result = load.stop()
        print(f"first deploy with tls=letsencrypt (certificate included): {first:6.1f} s")
        print(f"TLS handshake (connect + full handshake, median of 50):   {handshake:6.1f} ms")
        each = ", ".join(f"{seconds:.1f}" for seconds in renewals)
        print(f"forced renewal (certbot + nginx reload), each:            {each} s")
        print(f"load during {args.renewals} renewals: {result.summary()}")
    finally:
        acme.stop()
        if not args.keep:
            instance.reset(config)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
