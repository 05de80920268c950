"""One local instance for the whole host tier: baked, started and deployed the way `make demo` does.

The test instance has its own name and ports, so a demo instance can run beside it.
ONEHOST_TEST_INSTANCE, ONEHOST_TEST_SSH_PORT, ONEHOST_TEST_HTTP_PORT and ONEHOST_TEST_HTTPS_PORT
replace them, so two host tiers (two checkouts) can run side by side.
Set ONEHOST_KEEP_TEST_INSTANCE=1 to leave it running after the session for a look inside.

The session fixtures (the instance, deployed once) are in tests/host/fixtures.py, a plugin that
tests/conftest.py loads, so that the image suite in packer/image_suite/ can use them too.
"""

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from onehost.commands import switch
from onehost.local import instance
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import pyinfra_command

TEST_INSTANCE_ENV = {
    "ONEHOST_INSTANCE": "onehost-test",
    "ONEHOST_SSH_PORT": "12222",
    "ONEHOST_HTTP_PORT": "18080",
    "ONEHOST_HTTPS_PORT": "18443",
}


def wait_until_retired(instance_name: str) -> None:
    """Until no colour is being retired on the instance (nothing to wait for when it is not running)."""
    subprocess.run(["docker", "exec", instance_name, *switch.wait_for_retires(120)], capture_output=True, timeout=180)


class Deployer:
    """Runs deploy files against the test instance and keeps what they printed."""

    def __init__(self, environ: dict):
        self.environ = environ

    def run(self, data: dict, deploy_file: str = "deploy.py", environ: dict | None = None,
            check: bool = True, dry: bool = False, settle: bool = True) -> subprocess.CompletedProcess:
        """The deploy file's run. `settle`: then wait until the colour it replaced is gone (a switch
        retires it in the background), so what the next test sees is the deploy's whole effect."""
        environ = {**self.environ, **(environ or {})}
        result = subprocess.run(pyinfra_command(deploy_file, data, dry=dry), cwd=REPO_ROOT, text=True,
                                capture_output=True, env=environ, timeout=900)
        if settle:
            wait_until_retired(environ["ONEHOST_INSTANCE"])
        if check and result.returncode != 0:
            pytest.fail(f"deploy failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result


class Instance:
    """The running test instance: HTTP through its nginx, commands inside it."""

    def __init__(self, config: instance.InstanceConfig):
        self.config = config

    def get(self, path: str, timeout: float = 5):
        return self.request("GET", path, timeout=timeout)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 5):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.config.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def wait_for_health(self, timeout: float = 60) -> dict:
        def healthy():
            status, body = instance.health(self.config)
            return body if status == 200 else None
        return instance.wait_until(healthy, f"/health/ on {self.config.url}", timeout)

    def inner(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """A command inside the instance, as root (like `sudo` over SSH)."""
        result = subprocess.run(["docker", "exec", self.config.name, *command],
                                capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            pytest.fail(f"{command} failed: {result.stdout}{result.stderr}")
        return result

    def psql(self, sql: str) -> str:
        return self.inner("docker", "exec", "data-postgres-1", "psql", "--username", "timewarp",
                          "--dbname", "timewarp", "--tuples-only", "--no-align", "--command", sql
                          ).stdout.strip()

    def readlink(self, path: str) -> str:
        return self.inner("readlink", path, check=False).stdout.strip()

    def live_container(self) -> str:
        """The app container nginx proxies to (named in upstream.inc by the switch)."""
        upstream = self.inner("cat", "/data/stacks/edge/conf.d/upstream.inc").stdout
        return upstream.split("http://", 1)[1].split(":", 1)[0]


def instance_settings(environ=os.environ) -> dict:
    """TEST_INSTANCE_ENV, each value replaced by its ONEHOST_TEST_* variable when set."""
    return {name: environ.get(name.replace("ONEHOST_", "ONEHOST_TEST_", 1), value)
            for name, value in TEST_INSTANCE_ENV.items()}


def side_instance_settings(suffix: str, port_offset: int, environ=os.environ) -> dict:
    """An instance of a module's own beside the session's (a module that resets and deploys its
    own project must never reset the session's): the session's name with `-suffix`, its ports
    moved by `port_offset` (outside the ranges side-by-side sessions are given)."""
    shared = instance_settings(environ)
    ports = {name: str(int(value) + port_offset) for name, value in shared.items() if name.endswith("_PORT")}
    return {"ONEHOST_INSTANCE": f"{shared['ONEHOST_INSTANCE']}-{suffix}", **ports}


def app_repository(settings: dict) -> str:
    """The session's own name for the test app's images, from its instance name. Two host tiers
    share one Docker daemon: with one fixed name, the second would re-tag `test-v1` under the
    first. The tags stay `test-v1`, `test-v2`, ... since a release id is `<tag>-<hash>`."""
    return f"timewarp-{settings['ONEHOST_INSTANCE']}"


APP_REPOSITORY = app_repository(instance_settings())
APP_IMAGE = f"{APP_REPOSITORY}:test-v1"
