"""The image suite: every fact the bake promises, checked by behaviour on one host.

The host is `--image-host SPEC` when given (Packer's builder instance over SSH, a booted
candidate by `docker://NAME`), else the host tier's deployed test instance: the same suite
gates an image and verifies a running host after a deploy. `--image REF` adds the checks of
the committed image itself (hygiene), which only a local image allows.
"""

import json
import runpy
import shlex
import subprocess

import pytest
import testinfra

from onehost.paths import REPO_ROOT

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
# What every host has installed, from the bake's own package lists.
BAKED_PACKAGES = (GROUP_DATA["docker_packages"] + GROUP_DATA["hardening_packages"]
                  + GROUP_DATA["cloud_init_packages"] + GROUP_DATA["backup_packages"]
                  + ["openssh-server", "sudo"])
CHECK_IMAGE = "onehost-image-check:latest"


def connect(spec: str, ssh_key: str | None):
    if spec.startswith(("ssh://", "paramiko://")):
        # A builder instance is new every time: its host key is accepted and not kept.
        return testinfra.get_host(spec, ssh_identity_file=ssh_key, sudo=True,
                                  ssh_extra_args="-o StrictHostKeyChecking=no "
                                                 "-o UserKnownHostsFile=/dev/null")
    return testinfra.get_host(spec)


@pytest.fixture(scope="session")
def image_host(request):
    spec = request.config.getoption("--image-host")
    if spec:
        return connect(spec, request.config.getoption("--image-ssh-key"))
    request.getfixturevalue("infra")  # the deployed test instance (started only now)
    config = request.getfixturevalue("test_instance").config
    return testinfra.get_host(f"ssh://{config.name}", ssh_config=str(config.ssh_config), sudo=True)


@pytest.fixture(scope="session")
def committed_image(request):
    """The committed local image (hygiene checks), or None when only a host is reachable."""
    reference = request.config.getoption("--image")
    if reference or request.config.getoption("--image-host"):
        return reference
    name = request.getfixturevalue("test_instance").config.name
    return subprocess.run(["docker", "inspect", "--format", "{{.Image}}", name],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def in_container(image_host) -> bool:
    """The local instance is a container: no swap, no kernel-wide sysctls, no time sync there."""
    return image_host.run("systemd-detect-virt --container --quiet").rc == 0


@pytest.fixture(scope="session")
def check_image(image_host):
    """A tiny image made on the host from its own /usr/bin/true and cat (hosts reach no registry)."""
    script = ("set -e; bins='/usr/bin/true /usr/bin/cat'; "
              "files=$(ldd $bins | grep -o '/[^ :]*' | sort -u); "
              f"tar --create --dereference --file - $files 2>/dev/null | docker import - {CHECK_IMAGE}")
    image_host.check_output(f"sh -c {shlex.quote(script)}")
    yield CHECK_IMAGE
    image_host.run(f"docker image rm --force {CHECK_IMAGE}")


def pytest_generate_tests(metafunc):
    if "expected_package" in metafunc.fixturenames:
        extra = metafunc.config.getoption("--image-expect-package")
        metafunc.parametrize("expected_package", BAKED_PACKAGES + list(extra))


def json_output(host, command: str):
    return json.loads(host.check_output(command))
