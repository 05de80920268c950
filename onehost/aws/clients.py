"""What every console command that talks to AWS shares: region, credentials, error messages.

Clients are plain boto3 clients with the usual configuration (AWS_PROFILE, AWS_REGION, SSO,
an instance or OIDC role); AWS_ENDPOINT_URL points them elsewhere (the tests' moto server).
"""

import os

from onehost.local.shell import CommandFailed


def resolve_region(flag: str | None, environ: dict, configured: str | None) -> str:
    """--region, else AWS_REGION, else AWS_DEFAULT_REGION, else the AWS config file's."""
    region = flag or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or configured
    if not region:
        raise CommandFailed("no AWS region: pass --region or set AWS_REGION")
    return region


def client(service: str, region_flag: str | None = None):
    import boto3

    session = boto3.session.Session()
    region = resolve_region(region_flag, os.environ, session.region_name)
    if session.get_credentials() is None:
        raise CommandFailed("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY, or run where an instance or OIDC role provides them")
    return session.client(service, region_name=region)


def aws_errors(action):
    """Run an AWS action; botocore's errors become one-line CommandFailed messages."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return action()
    except ClientError as error:
        raise CommandFailed(f"AWS refused: {error}") from error
    except BotoCoreError as error:
        raise CommandFailed(f"AWS call failed: {error}") from error


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
                     for row in [headers, *rows])


def tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_dict(tags: list[dict] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or []}
