"""Load through nginx during a switch, for the host tests that count what a switch drops."""

from onehost.local.instance import wait_until
from onehost.local.loadgen import LoadGenerator


class Load:
    """40 requests a second through nginx: half from 4 keep-alive clients that never retry, half
    from fresh connections. Bounded in time; every wait has a deadline."""

    def __init__(self, instance, retry: bool = False):
        self.generator = LoadGenerator(f"{instance.config.url}/health/", rate=40, max_seconds=180,
                                       persistent_clients=4, persistent_retry=retry, timeout=10)

    def __enter__(self):
        self.generator.start()
        wait_until(lambda: self.generator.snapshot()["ok"] >= 20, "the load's first answers", 30)
        return self

    def until_version(self, version: str) -> None:
        wait_until(lambda: self.generator.snapshot()["versions"][-1:] == [version],
                   f"responses from {version}", 30)
        # A second more on the new version, so that kept connections carry requests after the switch.
        sent = self.generator.snapshot()["sent"]
        wait_until(lambda: self.generator.snapshot()["sent"] >= sent + 40, "a second more of load", 30)

    def __exit__(self, *exc):
        self.result = self.generator.stop()
        return False
