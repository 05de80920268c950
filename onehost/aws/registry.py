"""An ECR image's digest, asked of ECR before the host is touched."""

from onehost.commands.registry import ImageReference, RegistryError, missing_message


def ecr_digest(reference: ImageReference, client=None) -> str:
    import boto3
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )
    image_id = {"imageDigest": reference.digest} if reference.digest else {"imageTag": reference.tag}
    try:
        # A session of its own: credentials looked up now, not cached from earlier calls.
        client = client or boto3.session.Session().client("ecr", region_name=reference.ecr_region)
        answer = client.describe_images(registryId=reference.ecr_account, repositoryName=reference.repository,
                                        imageIds=[image_id])
    except NoCredentialsError:
        raise RegistryError(
            f"no AWS credentials on this machine to ask ECR ({reference.registry}) for the digest of "
            f"{reference}: configure them (aws configure, AWS_PROFILE, or the workflow's OIDC role)"
            ) from None
    except EndpointConnectionError as error:
        raise RegistryError(f"ECR in {reference.ecr_region} is not reachable from this machine "
                            f"({error}): check the network and the region in the image name") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise RegistryError(missing_message(reference)) from None
        if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                    "ExpiredTokenException"):
            raise RegistryError(
                f"ECR refused to describe {reference} ({code}): the AWS identity on this machine "
                "needs ecr:DescribeImages on the repository") from None
        raise RegistryError(f"ECR could not describe {reference}: {error}") from None
    except BotoCoreError as error:
        raise RegistryError(f"ECR could not describe {reference}: {error}") from None
    details = answer.get("imageDetails") or []
    if not details:
        raise RegistryError(missing_message(reference))
    return details[0]["imageDigest"]
