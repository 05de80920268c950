"""The image suite: every fact the bake promises, checked by behaviour on one host.

It lives beside the template that runs it: Packer runs `python -m pytest packer/image_suite
--image-host ssh://...` from the repository root against the AMI's builder instance, and the
local bake runs it against a booted candidate (`docker://NAME`). `--image REF` adds the checks of
the committed image itself (hygiene), which only a local image allows.

Without `--image-host` it checks the host tier's deployed test instance (the `infra` and
`test_instance` fixtures, which tests/conftest.py loads for every test folder): the same suite
gates an image and verifies a running host after a deploy.
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


def pytest_addoption(parser):
    # A conftest's options count when pytest starts in or above its folder: `pytest
    # packer/image_suite ...`, or the whole run through pyproject's testpaths.
    group = parser.getgroup("onehost image suite (packer/image_suite)")
    group.addoption("--image-host", metavar="SPEC", default=None,
                    help="testinfra host the image suite checks, e.g. docker://onehost-candidate or "
                         "ssh://admin@HOST:PORT (default: the host tier's deployed test instance)")
    group.addoption("--image-ssh-key", metavar="PATH", default=None,
                    help="private key for an ssh:// --image-host")
    group.addoption("--image", metavar="REFERENCE", default=None,
                    help="the committed local image to check for hygiene (host keys, machine-id, ...)")
    group.addoption("--image-expect-package", metavar="NAME", action="append", default=[],
                    help="also check that package NAME is installed (repeatable)")


def connect(spec: str, ssh_key: str | None):
    if spec.startswith(("ssh://", "paramiko://")):
        # A builder instance is new every time: its host key is accepted and not kept.
        return testinfra.get_host(spec, ssh_identity_file=ssh_key, sudo=True,
                                  ssh_extra_args="-o StrictHostKeyChecking=no "
                                                 "-o UserKnownHostsFile=/dev/null")
    return testinfra.get_host(spec)


def deployed_test_instance(request):
    """The host tier's test instance, deployed (started only now, when the suite needs it)."""
    try:
        request.getfixturevalue("infra")
    except pytest.FixtureLookupError:
        pytest.fail("the image suite needs a host: give --image-host SPEC, or load the "
                    "host tier's fixtures: `python -m pytest packer/image_suite -p tests.host.fixtures`",
                    pytrace=False)
    return request.getfixturevalue("test_instance")


@pytest.fixture(scope="session")
def image_host(request):
    spec = request.config.getoption("--image-host")
    if spec:
        return connect(spec, request.config.getoption("--image-ssh-key"))
    config = deployed_test_instance(request).config
    return testinfra.get_host(f"ssh://{config.name}", ssh_config=str(config.ssh_config), sudo=True)


@pytest.fixture(scope="session")
def committed_image(request):
    """The committed local image (hygiene checks), or None when only a host is reachable."""
    reference = request.config.getoption("--image")
    if reference or request.config.getoption("--image-host"):
        return reference
    name = deployed_test_instance(request).config.name
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
