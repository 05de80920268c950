"""The app's secrets from SSM Parameter Store (moto): rendered, a missing one named, odd names refused."""

import pytest

from onehost.aws import secrets
from onehost.commands.release import ReleaseError

PATH = "/timewarp/production/"


def put(ssm, name: str, value: str, kind: str = "SecureString") -> None:
    ssm.put_parameter(Name=f"{PATH}{name}", Value=value, Type=kind)


def test_parameters_under_the_path_become_the_env(aws):
    ssm = aws.client("ssm")
    put(ssm, "SECRET_KEY", "s3cr3t-key")
    put(ssm, "DB_PASSWORD", "db-pa55")
    put(ssm, "GUNICORN_WORKERS", "3", "String")
    ssm.put_parameter(Name="/timewarp/staging/SECRET_KEY", Value="other", Type="SecureString")
    assert secrets.read_parameters(ssm, "/timewarp/production") == {
        "SECRET_KEY": "s3cr3t-key", "DB_PASSWORD": "db-pa55", "GUNICORN_WORKERS": "3"}


def test_a_missing_required_parameter_is_named_and_no_value_is_shown(aws):
    ssm = aws.client("ssm")
    put(ssm, "SECRET_KEY", "s3cr3t-key")
    with pytest.raises(ReleaseError) as raised:
        secrets.read_parameters(ssm, PATH)
    assert str(raised.value) == (f"SSM parameter {PATH}DB_PASSWORD is missing: create it as a SecureString")
    assert "s3cr3t-key" not in str(raised.value)


def test_a_name_that_is_not_an_env_variable_is_refused(aws):
    ssm = aws.client("ssm")
    put(ssm, "secret-key", "x")
    with pytest.raises(ReleaseError, match="is not named like an environment variable"):
        secrets.read_parameters(ssm, PATH)


@pytest.mark.parametrize("path", ["timewarp/production", "/", "/time warp/", ""])
def test_a_malformed_path_is_refused(path):
    with pytest.raises(ReleaseError, match="is not a parameter path"):
        secrets.normalize_path(path)
