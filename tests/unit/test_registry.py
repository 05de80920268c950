import base64
import json
from types import SimpleNamespace

import pytest
from docker.errors import APIError, DockerException, NotFound

from onehost.commands import registry
from onehost.commands.registry import Credentials, ImageReference, RegistryError, parse_reference
from onehost.local.registry import resolve_digest

DIGEST = "sha256:" + "ab" * 32
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("text, expected", [
    ("postgres", ImageReference("docker.io", "library/postgres", "latest", None)),
    ("postgres:17-bookworm", ImageReference("docker.io", "library/postgres", "17-bookworm", None)),
    ("docker.io/library/nginx:1.27", ImageReference("docker.io", "library/nginx", "1.27", None)),
    ("index.docker.io/team/app:v1", ImageReference("docker.io", "team/app", "v1", None)),
    ("team/app:v1", ImageReference("docker.io", "team/app", "v1", None)),
    ("127.0.0.1:5000/timewarp:v1", ImageReference("127.0.0.1:5000", "timewarp", "v1", None)),
    ("localhost/timewarp", ImageReference("localhost", "timewarp", "latest", None)),
    ("ghcr.io/org/team/app:2.0.1", ImageReference("ghcr.io", "org/team/app", "2.0.1", None)),
    (f"{ECR}/timewarp:abc123", ImageReference(ECR, "timewarp", "abc123", None)),
    (f"registry.example.com:8443/app@{DIGEST}",
     ImageReference("registry.example.com:8443", "app", None, DIGEST)),
    (f"app:v1@{DIGEST}", ImageReference("docker.io", "library/app", "v1", DIGEST)),
])
def test_references_are_read_as_docker_reads_them(text, expected):
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text, kind, account, region", [
    ("postgres:17", "dockerhub", None, None),
    ("team/app:v1", "dockerhub", None, None),
    (f"{ECR}/timewarp:v1", "ecr", "123456789012", "eu-west-1"),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:v1", "ecr", "123456789012", "us-gov-west-1"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:v1", "ecr", "123456789012", "cn-north-1"),
    ("127.0.0.1:5000/timewarp:v1", "other", None, None),
    ("dkr.ecr.eu-west-1.amazonaws.com/app:v1", "other", None, None),
])
def test_registries_are_classified(text, kind, account, region):
    reference = parse_reference(text)
    assert (reference.kind, reference.ecr_account, reference.ecr_region) == (kind, account, region)


def test_pinned_names_keep_docker_hubs_short_form():
    assert parse_reference("postgres:17").pinned(DIGEST) == f"postgres@{DIGEST}"
    assert parse_reference("team/app:v1").pinned(DIGEST) == f"team/app@{DIGEST}"
    assert parse_reference("127.0.0.1:5000/timewarp:v1").pinned(DIGEST) == f"127.0.0.1:5000/timewarp@{DIGEST}"
    assert str(parse_reference("127.0.0.1:5000/timewarp:v1")) == "127.0.0.1:5000/timewarp:v1"


@pytest.mark.parametrize("text, problem", [
    ("", "repository"),
    ("Timewarp:v1", "lowercase"),
    ("timewarp:v1@sha256:short", "64 hex digits"),
    ("timewarp:bad/tag", "not a registry host"),
    ("timewarp:v 1", "tag"),
    ("timewarp:-v1", "tag"),
])
def test_bad_references_are_refused_naming_them(text, problem):
    with pytest.raises(RegistryError, match=problem) as error:
        parse_reference(text)
    assert repr(text) in str(error.value)


def test_a_password_given_as_data_is_refused_naming_the_two_ways():
    with pytest.raises(RegistryError) as error:
        registry.credentials_from({"registry_username": "ci", "registry_password": "hunter2"}, environ={})
    message = str(error.value)
    assert "registry_password is not taken as data" in message
    assert "ONEHOST_REGISTRY_PASSWORD" in message and "registry_password_file" in message
    assert "hunter2" not in message


def test_the_password_comes_from_the_environment_or_a_file(tmp_path):
    assert registry.credentials_from({"registry_username": "ci"},
                                     environ={"ONEHOST_REGISTRY_PASSWORD": "s3cret"}) == Credentials("ci", "s3cret")
    password_file = tmp_path / "password"
    password_file.write_text("from-file\n")
    assert registry.credentials_from({"registry_username": "ci", "registry_password_file": str(password_file)},
                                     environ={}) == Credentials("ci", "from-file")
    assert registry.credentials_from({}, environ={"ONEHOST_REGISTRY_PASSWORD": "unused"}) is None


@pytest.mark.parametrize("data, environ, problem", [
    ({"registry_username": "ci"}, {}, "no password is given"),
    ({"registry_username": "ci", "registry_password_file": "/nonexistent/pw"}, {}, "does not exist"),
    ({"registry_password_file": "/some/file"}, {}, "registry_username is not"),
    ({"registry_username": "ci", "registry_password_file": "/some/file"},
     {"ONEHOST_REGISTRY_PASSWORD": "x"}, "give one"),
])
def test_incomplete_credentials_are_refused(data, environ, problem):
    with pytest.raises(RegistryError, match=problem):
        registry.credentials_from(data, environ=environ)


def test_credentials_never_show_in_their_repr():
    assert "s3cret" not in repr(Credentials("ci", "s3cret"))


def test_ecr_takes_no_username():
    with pytest.raises(RegistryError, match="unset registry_username"):
        resolve_digest(parse_reference(f"{ECR}/app:v1"), Credentials("ci", "x"))


def test_the_throwaway_docker_config_holds_one_registry():
    config = json.loads(registry.docker_config(parse_reference("127.0.0.1:5000/app:v1"), Credentials("ci", "pw")))
    assert config == {"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"ci:pw").decode()}}}
    hub = json.loads(registry.docker_config(parse_reference("team/app:v1"), Credentials("ci", "pw")))
    assert list(hub["auths"]) == ["https://index.docker.io/v1/"]


def test_pull_commands_are_exact_argument_lists():
    pinned = f"127.0.0.1:5000/timewarp@{DIGEST}"
    assert registry.pull(pinned) == ["docker", "pull", "--quiet", pinned]
    assert registry.pull(pinned, "/run/onehost-pull-0a1b") == [
        "docker", "--config", "/run/onehost-pull-0a1b", "pull", "--quiet", pinned]
    assert registry.protect_config("/run/onehost-upload-0a1b") == [
        "chmod", "600", "/run/onehost-upload-0a1b/config.json"]


class FakeDocker:
    """Stands in for docker.APIClient: answers inspect_distribution from a script."""

    def __init__(self, answer=None, error=None):
        self.answer, self.error, self.calls = answer, error, []

    def inspect_distribution(self, image, auth_config=None):
        self.calls.append((image, auth_config))
        if self.error:
            raise self.error
        return self.answer


def api_error(status: int, explanation: str, kind=APIError):
    return kind("error", response=SimpleNamespace(status_code=status, reason="", url=""),
                explanation=explanation)


LOCAL = parse_reference("127.0.0.1:5000/timewarp:v1")


def test_the_digest_comes_from_the_daemons_distribution_answer():
    client = FakeDocker({"Descriptor": {"digest": DIGEST, "mediaType": "x", "size": 1}})
    assert resolve_digest(LOCAL, Credentials("ci", "pw"), docker_client=client) == DIGEST
    assert client.calls == [("127.0.0.1:5000/timewarp:v1",
                             {"username": "ci", "password": "pw", "serveraddress": "127.0.0.1:5000"})]


def test_without_credentials_the_check_is_anonymous_like_the_hosts_pull():
    client = FakeDocker({"Descriptor": {"digest": DIGEST}})
    resolve_digest(LOCAL, None, docker_client=client)
    assert client.calls == [("127.0.0.1:5000/timewarp:v1", {})]


def test_a_wrong_password_names_the_registry_the_user_and_the_fix():
    client = FakeDocker(error=api_error(401, "unauthorized: authentication required"))
    with pytest.raises(RegistryError) as error:
        resolve_digest(LOCAL, Credentials("ci", "wrong-pw"), docker_client=client)
    assert str(error.value) == (
        "registry 127.0.0.1:5000 refused user ci (unauthorized: authentication required): check "
        "registry_username and the password in ONEHOST_REGISTRY_PASSWORD or the file named by "
        "registry_password_file")


def test_anonymous_access_refused_says_how_to_give_credentials():
    client = FakeDocker(error=api_error(500, 'Head "http://127.0.0.1:5000/v2/timewarp/manifests/v1": '
                                             "no basic auth credentials"))
    with pytest.raises(RegistryError, match="refused anonymous access to 127.0.0.1:5000/timewarp:v1.*"
                                            "registry_username=NAME"):
        resolve_digest(LOCAL, None, docker_client=client)


def test_a_missing_tag_names_the_reference():
    client = FakeDocker(error=api_error(404, "manifest unknown: manifest unknown", NotFound))
    with pytest.raises(RegistryError) as error:
        resolve_digest(LOCAL, Credentials("ci", "pw"), docker_client=client)
    assert str(error.value) == (
        "127.0.0.1:5000/timewarp:v1 is not in registry 127.0.0.1:5000 (no such repository, tag or "
        "digest): push it first (docker push 127.0.0.1:5000/timewarp:v1), or check the name and tag")


def test_an_unreachable_registry_has_its_own_error():
    client = FakeDocker(error=api_error(500, 'Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: '
                                             "connect: connection refused"))
    with pytest.raises(RegistryError, match="registry 127.0.0.1:5000 is not reachable from this machine"):
        resolve_digest(LOCAL, None, docker_client=client)


def test_no_local_docker_daemon_says_to_start_it():
    client = FakeDocker(error=DockerException("Error while fetching server API version"))
    with pytest.raises(RegistryError, match="Docker daemon on this machine is not reachable.*start it"):
        resolve_digest(LOCAL, None, docker_client=client)
