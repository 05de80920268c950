"""Secrets from SSM Parameter Store (moto on this machine, read by the deploy) reach the release's
env file and nothing else: not the output, not release.json, not the history."""

import secrets

import boto3

from onehost.commands.release import parse_env_file
from tests.host.conftest import APP_IMAGE
from tests.moto_server import FAKE_CREDENTIALS, moto_server

PATH = "/timewarp/test/"


def test_ssm_secrets_reach_only_the_release_env_file(test_instance, deployed, deployer):
    # PostgreSQL keeps the password it was made with: SSM holds the same one, and a new SECRET_KEY.
    db_password = parse_env_file(test_instance.config.app_env.read_text(), "app.env")["DB_PASSWORD"]
    secret_key = f"ssm-{secrets.token_urlsafe(40)}"
    with moto_server() as endpoint:
        ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        ssm.put_parameter(Name=f"{PATH}SECRET_KEY", Value=secret_key, Type="SecureString")
        ssm.put_parameter(Name=f"{PATH}DB_PASSWORD", Value=db_password, Type="SecureString")
        result = deployer.run({"image": APP_IMAGE, "ssm_path": PATH},
                              environ={**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
    try:
        assert secret_key not in result.stdout + result.stderr
        assert db_password not in result.stdout + result.stderr
        current = test_instance.readlink("/data/releases/current")
        env_file = f"{current}/app.env"
        assert parse_env_file(test_instance.inner("cat", env_file).stdout, env_file)["SECRET_KEY"] == secret_key
        assert test_instance.inner("stat", "--format", "%a %U", env_file).stdout.strip() == "600 root"
        for record in (f"{current}/release.json", "/data/history.jsonl"):
            assert secret_key not in test_instance.inner("cat", record).stdout, record
        assert test_instance.get("/health/")[0] == 200
    finally:
        deployer.run({"image": APP_IMAGE})   # back to the session's env file
