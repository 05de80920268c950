"""The app's settings and secrets from SSM Parameter Store: one path, one parameter a variable.

    /timewarp/production/SECRET_KEY   (SecureString)  ->  SECRET_KEY=...
    /timewarp/production/DB_PASSWORD  (SecureString)  ->  DB_PASSWORD=...

Read on the deploying machine with boto3 (the usual AWS credentials) and written only into the
release's app.env (mode 0600). Values never reach an error message.
"""

import re

from onehost.commands.release import REQUIRED_APP_SECRETS, ReleaseError

PATH = re.compile(r"^(/[A-Za-z0-9_.-]+)+/?$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalize_path(path: str) -> str:
    if not isinstance(path, str) or not PATH.match(path):
        raise ReleaseError(f"ssm_path {path!r} is not a parameter path: write it like /timewarp/production/")
    return path.rstrip("/") + "/"


def env_from_parameters(path: str, parameters: list[dict]) -> dict[str, str]:
    """Parameters directly under `path`, named like environment variables; others are refused."""
    env = {}
    for parameter in parameters:
        name = parameter["Name"][len(path):]
        if not NAME.match(name):
            raise ReleaseError(f"parameter {parameter['Name']} is not named like an environment variable "
                               "(letters, digits and _ after the path)")
        env[name] = parameter["Value"]
    return env


def read_parameters(ssm, path: str) -> dict[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    path = normalize_path(path)
    try:
        pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=False,
                                                                     WithDecryption=True)
        parameters = [item for page in pages for item in page["Parameters"]]
    except NoCredentialsError:
        raise ReleaseError(f"no AWS credentials to read {path} from SSM Parameter Store") from None
    except (ClientError, BotoCoreError) as error:
        raise ReleaseError(f"cannot read {path} from SSM Parameter Store: {error}") from None
    env = env_from_parameters(path, parameters)
    missing = [key for key in REQUIRED_APP_SECRETS if not env.get(key)]
    if missing:
        raise ReleaseError(f"SSM parameter {path}{missing[0]} is missing"
                           + (f" (and {', '.join(path + key for key in missing[1:])})" if missing[1:] else "")
                           + ": create it as a SecureString")
    return env
