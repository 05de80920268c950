"""The host side of an AMI swap, on a fresh local instance: how long the service is down.

    .venv/bin/python bench/swap.py [--keep]

Runs what `onehost hosts swap` runs on the hosts, over SSH (onehost.hosts.SshHosts): stop
every container, start the stacks, then the /health/ check. /health/ is polled every 100 ms
meanwhile. Prints each step's seconds and the window in which /health/ failed. On AWS the swap
adds the unmount and mount of /data and the EC2 calls (volume detach and attach, Elastic IP
move) to that window: the local instance's /data is a Docker volume that cannot move.
"""

import argparse
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import BENCH_ENV, fresh_bench_instance  # noqa: E402
from onehost import hosts, instance  # noqa: E402
from onehost.deploys import run_deploy  # noqa: E402
from onehost.inventory import local_instance_host  # noqa: E402

ADDRESS = "127.0.0.1"
POLL_SECONDS = 0.1
POLL_LIMIT = 6000  # ten minutes of polls at most


def poll_health(url: str, stop: threading.Event, outcomes: list) -> None:
    for _ in range(POLL_LIMIT):
        if stop.is_set():
            return
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                ok = response.status == 200
        except OSError:
            ok = False
        outcomes.append((time.monotonic(), ok))
        time.sleep(POLL_SECONDS)


def failed_window(outcomes: list) -> tuple[float, int]:
    """Seconds from the first failed poll to the first good one after it, and failed polls."""
    failed = [when for when, ok in outcomes if not ok]
    if not failed:
        return 0.0, 0
    back = next((when for when, ok in outcomes if ok and when > failed[-1]), outcomes[-1][0])
    return back - failed[0], len(failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    config = fresh_bench_instance("timewarp:bench-v1", "timewarp:bench-v2")
    try:
        run_deploy("deploy.py", {"image": "timewarp:bench-v1"}, environ=BENCH_ENV, capture=True, timeout=900)
        _, ssh_data = local_instance_host(config)
        ssh_hosts = hosts.SshHosts(server_name="localhost", tls=False, ssh_data=ssh_data)
        stop, outcomes = threading.Event(), []
        poller = threading.Thread(target=poll_health, args=(f"http://127.0.0.1:{config.http_port}/health/",
                                                            stop, outcomes), daemon=True)
        poller.start()
        time.sleep(1)  # a second of good polls before the swap starts
        def check():
            if not ssh_hosts.healthy(ADDRESS):
                raise SystemExit("the stacks did not come back healthy")

        steps = []
        for name, action in (("stop every container", lambda: ssh_hosts.run(ADDRESS, hosts.STOP_STACKS)),
                             ("start the stacks", lambda: ssh_hosts.run(ADDRESS, hosts.START_STACKS)),
                             ("/health/ through nginx", check)):
            start = time.monotonic()
            action()
            steps.append((name, time.monotonic() - start))
        time.sleep(1)
        stop.set()
        poller.join(timeout=5)
    finally:
        if not args.keep:
            instance.reset(config)
    window, failures = failed_window(outcomes)
    for name, seconds in steps:
        print(f"{name:<34} {seconds:6.1f} s")
    print(f"{'host-side downtime (swap steps)':<34} {sum(seconds for _, seconds in steps):6.1f} s")
    print(f"{'/health/ failing, as polled':<34} {window:6.1f} s ({failures} of {len(outcomes)} polls failed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
