"""`onehost load`: a bounded constant-rate load of GETs."""

from __future__ import annotations

import argparse
import sys

from onehost.local.loadgen import run_load


def _command(args) -> int:
    result = run_load(args.url, args.seconds, rate=args.rate, persistent_clients=args.persistent,
                      host_header=args.host_header, timeout=args.timeout, connect_to=args.connect_to,
                      ca_file=args.cacert, persistent_retry=not args.no_retry)
    print(result.summary())
    return 1 if result.failed else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "load", help="send a bounded constant-rate load of GETs to a URL",
        description="GET a URL at a steady rate from fresh connections and keep-alive clients "
                    "(persistent clients retry once when a reused connection was closed before "
                    "an answer); print sent, failed, retried, p50/p99 and the versions seen; "
                    "exit 1 when any request failed.")
    parser.add_argument("url", metavar="URL", help="an http:// or https:// URL, e.g. http://127.0.0.1:8080/health/")
    parser.add_argument("--rate", type=float, default=50, help="requests per second in total (default 50)")
    parser.add_argument("--seconds", type=float, default=10, help="how long to run (default 10)")
    parser.add_argument("--persistent", type=int, default=4,
                        help="keep-alive clients sharing half the rate (default 4; 0: fresh only)")
    parser.add_argument("--no-retry", action="store_true",
                        help="keep-alive clients never retry a request on a connection the server "
                             "closed (as Python's http.client does): each such close is a failure")
    parser.add_argument("--host-header", help="the Host header to send (default: from the URL)")
    parser.add_argument("--timeout", type=float, default=10, help="socket timeout in seconds (default 10)")
    parser.add_argument("--connect-to", metavar="ADDRESS",
                        help="connect to this address instead of the URL's host, which stays the "
                             "Host header and the TLS server name (e.g. a domain not yet in DNS)")
    parser.add_argument("--cacert", metavar="FILE",
                        help="trust the CA certificates in FILE for https:// (default: the system's)")
    parser.set_defaults(func=_command)


if __name__ == "__main__":
    import argparse
    _parser = argparse.ArgumentParser(prog="python -m onehost.local.loadgen")
    register(_parser.add_subparsers(dest="command", required=True))
    _arguments = _parser.parse_args(["load", *sys.argv[1:]])
    sys.exit(_arguments.func(_arguments))
