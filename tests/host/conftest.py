"""One local instance for the whole host tier: baked, started and deployed the way `make demo` does.

The test instance has its own name and ports, so a demo instance can run beside it.
ONEHOST_TEST_INSTANCE, ONEHOST_TEST_SSH_PORT, ONEHOST_TEST_HTTP_PORT and ONEHOST_TEST_HTTPS_PORT
replace them, so two host tiers (two checkouts) can run side by side.
Set ONEHOST_KEEP_TEST_INSTANCE=1 to leave it running after the session for a look inside.
"""

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest
import testinfra

from onehost.local import app_image, base_images, instance
from onehost.local.bake import bake_local_image
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import pyinfra_command

TEST_INSTANCE_ENV = {
    "ONEHOST_INSTANCE": "onehost-test",
    "ONEHOST_SSH_PORT": "12222",
    "ONEHOST_HTTP_PORT": "18080",
    "ONEHOST_HTTPS_PORT": "18443",
}
APP_IMAGE = "timewarp:test-v1"


class Deployer:
    """Runs deploy files against the test instance and keeps what they printed."""

    def __init__(self, environ: dict):
        self.environ = environ

    def run(self, data: dict, deploy_file: str = "deploy.py", environ: dict | None = None,
            check: bool = True, dry: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(pyinfra_command(deploy_file, data, dry=dry), cwd=REPO_ROOT, text=True,
                                capture_output=True, env={**self.environ, **(environ or {})},
                                timeout=900)
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


@pytest.fixture(scope="session")
def instance_environ():
    return {**os.environ, **instance_settings()}


@pytest.fixture(scope="session")
def base_image_names():
    """The base images and the baked instance image, built once (both cached by content hash)."""
    bases = base_images.ensure_all()
    bake_local_image()
    return bases


@pytest.fixture(scope="session")
def test_instance(instance_environ, base_image_names):
    config = instance.InstanceConfig.from_environment(instance_environ)
    bases = base_image_names
    instance.reset(config)
    instance.up(config)
    app_image.build(REPO_ROOT / "example", APP_IMAGE, base_image=bases["python"])
    yield Instance(config)
    if not os.environ.get("ONEHOST_KEEP_TEST_INSTANCE"):
        instance.reset(config)


@pytest.fixture(scope="session")
def deployer(instance_environ, test_instance):
    return Deployer(instance_environ)


@pytest.fixture(scope="session")
def deployed(deployer, test_instance):
    """The example app deployed once; tests that redeploy restore this state."""
    result = deployer.run({"image": APP_IMAGE})
    test_instance.wait_for_health()
    return result


@pytest.fixture(scope="session")
def infra(test_instance, deployed):
    """testinfra over SSH, as an operator would reach the host."""
    return testinfra.get_host(f"ssh://{test_instance.config.name}",
                              ssh_config=str(test_instance.config.ssh_config))
