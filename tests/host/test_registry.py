"""Deploying through a registry with credentials: pulled by digest, the password nowhere.

Debian's docker-registry runs on this machine's 127.0.0.1 with htpasswd auth; an SSH reverse
tunnel makes it the instance's 127.0.0.1 too (Docker takes 127.0.0.0/8 registries as
insecure, so plain HTTP works on both daemons). The example image is pushed to it with a
throwaway Docker config. The module ends with the session's release (test-v1, shipped) live.
"""

import base64
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass

import bcrypt
import pytest

from onehost.local.instance import wait_until
from tests.host.conftest import APP_IMAGE
from tests.host.test_deploy import changes_reported
from tests.moto_server import free_port, reverse_tunnel

USER = "deployer"
PASSWORD = "reg-pw-" + base64.b32encode(os.urandom(10)).decode().lower()
WRONG_PASSWORD = "not-the-" + PASSWORD


@dataclass
class LocalRegistry:
    instance: object
    port: int
    image: str      # 127.0.0.1:<port>/timewarp:v1
    pinned: str     # 127.0.0.1:<port>/timewarp@sha256:...
    tunnel: subprocess.Popen | None = None

    @property
    def digest(self) -> str:
        return self.pinned.split("@", 1)[1]

    def reachable_from_instance(self) -> bool:
        return self.instance.inner(
            "curl", "--silent", "--output", "/dev/null", "--write-out", "%{http_code}",
            f"http://127.0.0.1:{self.port}/v2/", check=False).stdout == "401"

    def open_tunnel(self) -> None:
        config = self.instance.config
        self.tunnel = reverse_tunnel(str(config.ssh_config), config.name, str(self.port))
        wait_until(self.reachable_from_instance, "the registry through the tunnel", 20)

    def close_tunnel(self) -> None:
        if self.tunnel:
            self.tunnel.terminate()
            self.tunnel.wait(timeout=10)
            self.tunnel = None


def registry_config(root, port: int) -> str:
    return (f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root}/storage\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
            f"auth:\n  htpasswd:\n    realm: onehost-test\n    path: {root}/htpasswd\n")


def v2_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def docker(config_dir, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["docker", "--config", str(config_dir), *args], input=stdin,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def local_registry(test_instance, deployed, deployer, tmp_path_factory):
    if shutil.which("docker-registry") is None:
        pytest.fail("docker-registry is not installed: run scripts/bootstrap.sh "
                    "(or apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    (root / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt()).decode()}\n")
    (root / "config.yml").write_text(registry_config(root, port))
    log = (root / "registry.log").open("w")
    server = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    local = None
    try:
        # Up when /v2/ answers, and it asks for credentials.
        wait_until(lambda: server.poll() is not None or v2_status(url) == 401, f"docker-registry on {url}", 30,
                   interval=0.2)
        assert server.poll() is None, (root / "registry.log").read_text()

        config_dir = root / "docker-config"   # the push's login lands here, nowhere else
        config_dir.mkdir(mode=0o700)
        image = f"127.0.0.1:{port}/timewarp:v1"
        docker(config_dir, "login", "--username", USER, "--password-stdin", f"127.0.0.1:{port}", stdin=PASSWORD)
        docker(config_dir, "tag", APP_IMAGE, image)
        docker(config_dir, "push", "--quiet", image)
        pinned = docker(config_dir, "image", "inspect", "--format", "{{index .RepoDigests 0}}", image).strip()
        docker(config_dir, "image", "rm", image)   # only the tag: the registry has it now

        local = LocalRegistry(test_instance, port, image, pinned)
        local.open_tunnel()
        yield local
    finally:
        if local:
            local.close_tunnel()
        server.terminate()
        server.wait(timeout=10)
        log.close()
        # The rest of the session expects the shipped test-v1 live.
        deployer.run({"image": APP_IMAGE})


def registry_data(local: LocalRegistry, **more) -> dict:
    return {"image": local.image, "pull": "true", "registry_username": USER, **more}


def host_state(instance) -> dict:
    """What a refused deploy must leave as it was."""
    return {
        "current": instance.readlink("/data/releases/current"),
        "previous": instance.readlink("/data/releases/previous"),
        "releases": instance.inner("ls", "/data/releases").stdout,
        # Same ids, images, states and start times: nothing recreated or restarted.
        "containers": instance.inner("sh", "-c", "docker inspect --format '{{.Id}} {{.Name}} {{.Config.Image}} "
                                     "{{.State.Status}} {{.State.StartedAt}}' $(docker ps --all --quiet)").stdout,
        "images": instance.inner("docker", "image", "ls", "--all", "--quiet", "--no-trunc").stdout,
        "pull_dirs": instance.inner("find", "/run", "-maxdepth", "1", "-name", "onehost-pull-*").stdout,
    }


def output_of(result) -> str:
    return result.stdout + result.stderr


def test_a_wrong_password_is_a_clear_error_before_the_host_changes(deployer, test_instance, local_registry):
    before = host_state(test_instance)
    result = deployer.run(registry_data(local_registry), environ={"ONEHOST_REGISTRY_PASSWORD": WRONG_PASSWORD},
                          check=False)
    output = output_of(result)
    assert result.returncode != 0
    assert (f"registry 127.0.0.1:{local_registry.port} refused user {USER}" in output
            and "check registry_username and the password in ONEHOST_REGISTRY_PASSWORD" in output), output[-3000:]
    assert WRONG_PASSWORD not in output
    assert host_state(test_instance) == before
    assert test_instance.get("/health/")[1]["version"] == "test-v1"


def test_no_credentials_for_a_private_registry_is_a_clear_error(deployer, test_instance, local_registry):
    before = host_state(test_instance)
    result = deployer.run({"image": local_registry.image, "pull": "true"}, check=False)
    output = output_of(result)
    assert result.returncode != 0
    assert f"refused anonymous access to {local_registry.image}" in output, output[-3000:]
    assert host_state(test_instance) == before


def test_a_missing_tag_names_the_reference(deployer, test_instance, local_registry):
    before = host_state(test_instance)
    missing = local_registry.image.replace(":v1", ":never-pushed")
    result = deployer.run({**registry_data(local_registry), "image": missing},
                          environ={"ONEHOST_REGISTRY_PASSWORD": PASSWORD}, check=False)
    assert result.returncode != 0
    assert f"{missing} is not in registry" in output_of(result), output_of(result)[-3000:]
    assert host_state(test_instance) == before


def test_a_pull_the_host_cannot_make_fails_and_leaves_no_credentials(deployer, test_instance,
                                                                    local_registry):
    """This machine reaches the registry, the host does not: the plan passes, the pull fails."""
    local_registry.close_tunnel()
    try:
        wait_until(lambda: not local_registry.reachable_from_instance(), "the tunnel to close", 10)
        before = host_state(test_instance)
        result = deployer.run(registry_data(local_registry), environ={"ONEHOST_REGISTRY_PASSWORD": PASSWORD},
                              check=False)
        output = output_of(result)
        assert result.returncode != 0
        assert f"the host could not pull {local_registry.pinned}: docker pull" in output, output[-3000:]
        assert PASSWORD not in output
        # No credentials left behind, and the old release serves on.
        assert host_state(test_instance) == before
        assert test_instance.get("/health/")[1]["version"] == "test-v1"
    finally:
        local_registry.open_tunnel()


@pytest.fixture(scope="module")
def registry_deploy(deployer, test_instance, local_registry):
    result = deployer.run(registry_data(local_registry), environ={"ONEHOST_REGISTRY_PASSWORD": PASSWORD})
    test_instance.wait_for_health()
    return result


def test_the_deploy_pulls_and_runs_the_digest(test_instance, local_registry, registry_deploy):
    assert f"Pull {local_registry.pinned} (with registry credentials)" in output_of(registry_deploy)
    status, body = test_instance.get("/health/")
    assert status == 200 and body["version"] == "v1" and body["database"] == "ok"
    running = test_instance.inner("docker", "inspect", "--format", "{{.Config.Image}}",
                                  test_instance.live_container()).stdout.strip()
    assert running == local_registry.pinned
    release = test_instance.readlink("/data/releases/current")
    record = json.loads(test_instance.inner("cat", f"{release}/release.json").stdout)
    assert record["image"] == local_registry.image and record["image_digest"] == local_registry.digest
    last = json.loads(test_instance.inner("tail", "-n", "1", "/data/history.jsonl").stdout)
    assert last["result"] == "ok" and last["image_digest"] == local_registry.pinned


def test_the_password_is_nowhere_on_the_host_or_in_the_output(test_instance, registry_deploy):
    assert PASSWORD not in output_of(registry_deploy)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()   # config.json's form
    for secret in (PASSWORD, token):
        found = test_instance.inner("grep", "-rlsF", "--", secret, "/data", "/root", "/etc", "/tmp", "/var/tmp",
                                    check=False)
        assert found.returncode != 0 and not found.stdout, found.stdout
        journal = test_instance.inner("sh", "-c", 'journalctl --no-pager | grep -cF -- "$1"', "grep", secret,
                                      check=False)
        assert journal.stdout.strip() == "0"
    leftovers = test_instance.inner("find", "/run", "-maxdepth", "1", "-name", "onehost-pull-*").stdout
    assert leftovers == ""
    # Root's own Docker config, when there is one, holds no logins.
    root_config = test_instance.inner("cat", "/root/.docker/config.json", check=False)
    assert root_config.returncode != 0 or "auths" not in json.loads(root_config.stdout)


def test_the_same_deploy_again_changes_nothing(deployer, test_instance, local_registry, registry_deploy):
    current = test_instance.readlink("/data/releases/current")
    result = deployer.run(registry_data(local_registry), environ={"ONEHOST_REGISTRY_PASSWORD": PASSWORD})
    output = output_of(result)
    assert changes_reported(output) == 0, output[-3000:]
    assert f"Pull {local_registry.pinned}" not in output   # the digest is there: no pull, no credentials
    assert test_instance.readlink("/data/releases/current") == current
    assert test_instance.inner("find", "/run", "-maxdepth", "1", "-name", "onehost-pull-*").stdout == ""
