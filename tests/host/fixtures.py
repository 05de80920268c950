"""The host tier's session fixtures: one test instance, baked, started and deployed once.

A plugin (tests/conftest.py loads it), not tests/host's conftest: the image suite in
packer/image_suite/ checks this same deployed instance when run without --image-host.
"""

import os

import pytest
import testinfra

from onehost.local import app_image, base_images, instance
from onehost.local.bake import bake_local_image
from onehost.local.shell import run
from onehost.paths import REPO_ROOT
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY, Deployer, Instance, instance_settings


def session_images_command(repository: str) -> list[str]:
    """Every tag of the session's app repository. `docker image ls REPOSITORY` lists all
    images in that repository, an exact name match (docker-image-ls(1), docs.docker.com
    reference/cli/docker/image/ls)."""
    return ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository]


def remove_session_images(repository: str = APP_REPOSITORY) -> None:
    """The app images this session built (test-v1 and what the tests derive from it)."""
    listed = run(session_images_command(repository), capture=True, check=False).stdout.decode()
    references = [line for line in listed.split() if not line.endswith(":<none>")]
    if references:
        run(["docker", "image", "rm", "--force", *references], capture=True, check=False)


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
        remove_session_images()


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
