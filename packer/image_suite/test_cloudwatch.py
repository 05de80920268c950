"""The CloudWatch agent's config is on the host and keeps its promises; AWS hosts run the agent
from the copy its own fetch-config kept (the source it was given may be removed by it)."""

import json

import pytest

from onehost.commands import cloudwatch_config

from .conftest import GROUP_DATA


def test_agent_config_validates(image_host):
    config = json.loads(image_host.file(cloudwatch_config.CONFIG_PATH).content_string)
    assert cloudwatch_config.problems_for(config, GROUP_DATA) == []


def test_agent_installed_on_aws_hosts_only(image_host, in_container):
    installed = image_host.package("amazon-cloudwatch-agent").is_installed
    # The local instance (a container) cannot download the package; every EC2 host has it.
    assert installed is not in_container
    if installed:
        assert image_host.service("amazon-cloudwatch-agent").is_enabled


def test_the_agent_runs_from_what_fetch_config_kept(image_host, in_container):
    """On AWS hosts: the agent's own copy is our config, and its TOML was written."""
    if in_container:
        pytest.skip("no agent package in the local image: the AWS bake runs this check")
    kept = json.loads(image_host.file(cloudwatch_config.kept_config_path()).content_string)
    assert kept == json.loads(image_host.file(cloudwatch_config.CONFIG_PATH).content_string)
    assert image_host.file(cloudwatch_config.AGENT_TOML).size > 0
