"""An image's digest, asked before the host is touched: of ECR with boto3, of any other registry
through this machine's Docker daemon (which speaks the registry's auth)."""

from onehost.aws.registry import ecr_digest
from onehost.commands.registry import (
    Credentials,
    ImageReference,
    RegistryError,
    check_credentials_fit,
    distribution_error,
)


def resolve_digest(reference: ImageReference, credentials: Credentials | None = None,
                   ecr_client=None, docker_client=None) -> str:
    """The manifest digest the reference names now, from its registry."""
    check_credentials_fit(reference, credentials)
    if reference.kind == "ecr":
        return ecr_digest(reference, ecr_client)
    return _distribution_digest(reference, credentials, docker_client)


def _distribution_digest(reference: ImageReference, credentials: Credentials | None,
                         client=None) -> str:
    import docker
    from docker.errors import APIError, DockerException
    try:
        client = client or docker.APIClient(**docker.utils.kwargs_from_env())
        # An explicit empty auth is anonymous: this machine's own `docker login` must not
        # make the check pass when the host, pulling with the same inputs, would be refused.
        auth = credentials.auth_config(reference) if credentials else {}
        answer = client.inspect_distribution(str(reference), auth_config=auth)
    except APIError as error:
        raise RegistryError(distribution_error(reference, credentials, error.status_code,
                                               str(error.explanation or error))) from None
    except DockerException as error:
        raise RegistryError(
            f"the Docker daemon on this machine is not reachable ({error}); it asks {reference.registry} "
            "for the digest: start it (`dockerd &` or `systemctl start docker`)") from None
    return answer["Descriptor"]["digest"]
