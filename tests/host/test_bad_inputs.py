"""Bad input is refused with a clear error before anything on the host changes."""

import pytest

from tests.host.conftest import APP_IMAGE

RELEASE_STATE = ("ls -1 /data/releases && readlink /data/releases/current && "
                 "docker ps --format '{{.Names}} {{.Image}} {{.CreatedAt}}' && "
                 "find /data/stacks/edge/conf.d -maxdepth 1 -type f -exec md5sum {} + | sort && "
                 "readlink /data/stacks/edge/conf.d/sockets/live.sock && find /data/letsencrypt | sort")


@pytest.fixture
def host_state(test_instance, deployed):
    """What a refused deploy must leave as it was."""
    def snapshot():
        return test_instance.inner("sh", "-c", RELEASE_STATE).stdout
    before = snapshot()
    yield
    assert snapshot() == before
    assert test_instance.get("/health/")[0] == 200


def refused(deployer, data, environ=None):
    result = deployer.run(data, environ=environ, check=False)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_missing_secret_key(deployer, host_state, tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("DB_PASSWORD=secret\n")
    output = refused(deployer, {"image": APP_IMAGE, "env_file": str(env_file)})
    assert f"SECRET_KEY not set in {env_file}" in output


def test_image_that_does_not_exist(deployer, host_state):
    output = refused(deployer, {"image": "timewarp:no-such-tag"})
    assert "image timewarp:no-such-tag does not exist locally" in output
    assert "onehost build-app --tag timewarp:no-such-tag" in output


def test_no_image_given(deployer, host_state):
    assert "no image given: pass the app image with --data image=NAME:TAG" in refused(deployer, {})


def test_instance_not_running(deployer, host_state):
    output = refused(deployer, {"image": APP_IMAGE},
                     environ={"ONEHOST_INSTANCE": "onehost-not-started"})
    assert "the local instance onehost-not-started is not running" in output
    assert "onehost instance up" in output


def test_inventory_naming_no_host(deployer, host_state):
    output = refused(deployer, {"image": APP_IMAGE}, environ={"ONEHOST_HOSTS": " , "})
    assert "ONEHOST_HOSTS is set but names no host" in output


TLS_DATA = {"image": APP_IMAGE, "tls": "letsencrypt", "server_names": '["api.example.com"]',
            "letsencrypt_email": "ops@example.com"}


@pytest.mark.parametrize("data, message", [
    ({"server_names": '["api.exa_mple.com"]'}, "server name 'api.exa_mple.com' is not a valid domain name"),
    ({"server_names": "[]"}, "server_names is empty: give the domain names"),
    ({"server_names": '["localhost"]'}, "server name 'localhost' cannot get a certificate"),
    ({"letsencrypt_email": "ops@"}, "letsencrypt_email 'ops@' is not an email address"),
    ({"letsencrypt_email": ""}, "letsencrypt_email is not set"),
    ({"acme_server": "acme.example.com"}, "acme_server is 'acme.example.com': use production, staging"),
    ({"tls": "on"}, "tls is 'on': use one of letsencrypt, off"),
])
def test_bad_tls_settings(deployer, host_state, data, message):
    assert message in refused(deployer, {**TLS_DATA, **data})
