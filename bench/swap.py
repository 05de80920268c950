"""The host side of an AMI swap, on a fresh local instance: how long the service is down.

    .venv/bin/python bench/swap.py [--keep] [--rate 10]

Runs what `onehost hosts swap` runs on the hosts, over SSH (onehost.aws.hosts.SshHosts): stop
every container, start the stacks, then the /health/ check, while the load generator sends
/health/ at a constant rate. Prints each step's seconds, the requests that failed and the
window in which they failed. On AWS the swap adds the unmount and mount of /data and the EC2
calls (volume detach and attach, Elastic IP move) to that window: the local instance's /data
is a Docker volume that cannot move.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import BENCH_ENV, fresh_bench_instance
from onehost.aws import hosts
from onehost.commands.data_volume import START_STACKS, STOP_STACKS
from onehost.local import instance
from onehost.local.loadgen import LoadGenerator
from onehost.remote.deploys import run_deploy
from onehost.remote.inventory import local_instance_host

ADDRESS = "127.0.0.1"
LOAD_SECONDS = 600  # the load's own bound: it stops by itself however the swap goes
EDGE_SECONDS = 1    # good answers before the swap starts and after it is done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    parser.add_argument("--rate", type=float, default=10, help="/health/ requests a second (default 10)")
    args = parser.parse_args()
    config = fresh_bench_instance("timewarp:bench-v1", "timewarp:bench-v2")
    try:
        run_deploy("deploy.py", {"image": "timewarp:bench-v1"}, environ=BENCH_ENV, capture=True, timeout=900)
        _, ssh_data = local_instance_host(config)
        ssh_hosts = hosts.SshHosts(server_name="localhost", tls=False, ssh_data=ssh_data)

        def check():
            if not ssh_hosts.healthy(ADDRESS):
                raise SystemExit(f"the stacks did not come back healthy: {ssh_hosts.last_error}")

        steps = []
        load = LoadGenerator(f"http://127.0.0.1:{config.http_port}/health/", rate=args.rate,
                             max_seconds=LOAD_SECONDS, timeout=1).start()
        try:
            time.sleep(EDGE_SECONDS)
            for name, action in (("stop every container", lambda: ssh_hosts.run(ADDRESS, STOP_STACKS)),
                                 ("start the stacks", lambda: ssh_hosts.run(ADDRESS, START_STACKS)),
                                 ("/health/ through nginx", check)):
                start = time.monotonic()
                action()
                steps.append((name, time.monotonic() - start))
            time.sleep(EDGE_SECONDS)
        finally:
            result = load.stop()
    finally:
        if not args.keep:
            instance.reset(config)
    for name, seconds in steps:
        print(f"{name:<34} {seconds:6.1f} s")
    print(f"{'host-side downtime (swap steps)':<34} {sum(seconds for _, seconds in steps):6.1f} s")
    print(f"{'/health/ failing, first to last':<34} {result.failure_window():6.1f} s "
          f"({result.failed} of {result.sent} requests at {args.rate:g}/s failed)")
    print(f"load: {result.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
