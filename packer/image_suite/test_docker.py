"""Docker engine and compose v2, with the daemon settings the bake promises."""

import json

from .conftest import json_output


def test_docker_runs_a_container(image_host, check_image):
    result = image_host.run(f"docker run --rm --network none {check_image} /usr/bin/true")
    assert result.rc == 0, result.stderr


def test_docker_starts_at_boot(image_host):
    docker = image_host.service("docker")
    assert docker.is_enabled and docker.is_running


def test_compose_v2(image_host):
    assert image_host.check_output("docker compose version --short").lstrip("v").startswith("2.")


def test_daemon_keeps_containers_through_its_restart_and_logs_as_json(image_host):
    info = json_output(image_host, "docker info --format '{{json .}}'")
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"


def test_container_logs_rotate(image_host, check_image):
    container = image_host.check_output(f"docker create --network none {check_image} /usr/bin/true")
    try:
        log_config = json.loads(image_host.check_output(
            f"docker inspect --format '{{{{json .HostConfig.LogConfig}}}}' {container}"))
    finally:
        image_host.run(f"docker rm {container}")
    assert log_config == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}


def test_containers_cannot_gain_privileges(image_host, check_image):
    status = image_host.check_output(
        f"docker run --rm --network none {check_image} /usr/bin/cat /proc/self/status")
    assert "NoNewPrivs:\t1" in status


def test_the_ecr_credential_helper_answers_dockers_credential_protocol(image_host):
    """The helper root's Docker uses as its credential store (/root/.docker/config.json) is
    installed and answers `get` as Docker asks it. On EC2 it answers with the instance role's
    token; here, with no AWS credentials and the metadata service off (so nothing leaves this
    host), it answers "not found", which Docker takes as "pull anonymously"."""
    result = image_host.run("echo 123456789012.dkr.ecr.eu-west-1.amazonaws.com | "
                            "env AWS_EC2_METADATA_DISABLED=true docker-credential-ecr-login get")
    assert result.rc == 1, result.stdout + result.stderr
    assert "credentials not found" in result.stdout + result.stderr
