"""The CloudWatch agent: its config rendered from the settings' cloudwatch section and validated
on every target; the official package installed on AWS targets only (`bake_target=aws` or
`cloudwatch_agent_package`: it cannot be downloaded for the local image)."""

import json
from io import StringIO
from pathlib import PurePosixPath

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Arch
from pyinfra.operations import apt, files, server

from deploy.lib.units import enable_at_boot
from deploy.settings import settings
from onehost.commands import cloudwatch_config

PACKAGE_CACHE = "/var/cache/onehost/amazon-cloudwatch-agent.deb"
AGENT_CTL = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"


@deploy("CloudWatch agent")
def configure_cloudwatch_agent():
    cloudwatch = settings().cloudwatch
    config = cloudwatch.agent_config()
    if cloudwatch.agent_package:
        files.directory(name="Create the package cache", path=str(PurePosixPath(PACKAGE_CACHE).parent))
        files.download(name="Download the CloudWatch agent package",
                       src=cloudwatch_config.package_url(host.get_fact(Arch)), dest=PACKAGE_CACHE)
        apt.deb(name="Install the CloudWatch agent", src=PACKAGE_CACHE)
    else:
        host.noop("the CloudWatch agent package is not installed on this target "
                  "(a local target); its config is rendered and validated")
    config_path = cloudwatch_config.CONFIG_PATH
    files.directory(name="Create the CloudWatch agent config directory",
                    path=str(PurePosixPath(config_path).parent), mode="755")
    files.put(name="Write the CloudWatch agent config", src=StringIO(json.dumps(config, indent=2) + "\n"),
              dest=config_path, user="root", group="root", mode="644")
    if cloudwatch.agent_package:
        # The agent's own translator checks the file against its schema (and writes its TOML);
        # a config it rejects fails the bake instead of a host that ships no logs.
        server.shell(name="Validate the CloudWatch agent config with the agent",
                     commands=[f"{AGENT_CTL} -a fetch-config -m ec2 -c file:{config_path}"])
        enable_at_boot("amazon-cloudwatch-agent.service")
