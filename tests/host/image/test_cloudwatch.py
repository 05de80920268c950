"""The CloudWatch agent's config is on the host and keeps its promises; AWS hosts run the agent."""

import json

from onehost import cloudwatch_config
from tests.host.image.conftest import GROUP_DATA


def test_agent_config_validates(image_host):
    config = json.loads(image_host.file(cloudwatch_config.CONFIG_PATH).content_string)
    assert cloudwatch_config.problems_for(config, GROUP_DATA) == []


def test_agent_installed_on_aws_hosts_only(image_host, in_container):
    installed = image_host.package("amazon-cloudwatch-agent").is_installed
    # The local instance (a container) cannot download the package; every EC2 host has it.
    assert installed is not in_container
    if installed:
        assert image_host.service("amazon-cloudwatch-agent").is_enabled
