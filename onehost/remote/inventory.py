"""Which hosts a deploy targets: EC2 instances by their tags, static hosts, or the local instance.

ONEHOST_TAGS="project=timewarp,environment=production,role=app" finds the running EC2 instances
with all of those tags in AWS_REGION (boto3, the usual AWS credentials), reached through the
Instance Connect Endpoint with the host keys pinned at launch (onehost.commands.reach; ONEHOST_REACH=public
or private connects to the address instead);
ONEHOST_HOSTS="admin@203.0.113.10,deploy@app.example.com:2200" names static hosts;
with neither, the inventory is the local instance (which must be running).
ONEHOST_APP_CONFIG=path/to/onehost.toml (written by `onehost init`) gives every host the
project's deploy settings (onehost.local.app_config); --data still overrides them.
"""

import hashlib
import os
import re

from pyinfra.api.exceptions import InventoryError

from onehost.commands import reach
from onehost.local import app_config, docker_cli
from onehost.local.instance import ADMIN_USER, InstanceConfig, ssh_key
from onehost.paths import state_dir
from onehost.remote import ssh_proxy
from onehost.remote.ssh_files import SshFiles

# EC2 hosts are reached through a ProxyCommand, which must not lose bytes under pyinfra's gevent.
ssh_proxy.install()

HOST_SPEC = re.compile(r"^(?:(?P<user>[a-z_][a-z0-9_-]*)@)?(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?$")
# Debian-built stand-ins for the official images, made by `onehost base-images`.
LOCAL_IMAGES = {"postgres_image": "onehost-base/postgres:latest",
                "nginx_image": "onehost-base/nginx:latest",
                "broker_image": "onehost-base/broker:latest"}


def parse_host_spec(spec: str, default_user: str = ADMIN_USER) -> tuple[str, dict]:
    match = HOST_SPEC.match(spec.strip())
    if not match or (match["port"] and not 0 < int(match["port"]) < 65536):
        raise InventoryError(f"{spec!r} is not a host: write [user@]host[:port], e.g. admin@203.0.113.10")
    data = {"ssh_user": match["user"] or default_user, "_sudo": True}
    if match["port"]:
        data["ssh_port"] = int(match["port"])
    return match["host"], data


def static_hosts(value: str, environ=os.environ) -> list[tuple[str, dict]]:
    specs = [spec for spec in value.split(",") if spec.strip()]
    if not specs:
        raise InventoryError("ONEHOST_HOSTS is set but names no host: give [user@]host[:port] "
                             "entries separated by commas, or unset it to use the local instance")
    hosts = [parse_host_spec(spec) for spec in specs]
    if environ.get("ONEHOST_SSH_KEY"):
        for _, data in hosts:
            data["ssh_key"] = environ["ONEHOST_SSH_KEY"]
    return hosts


def local_instance_host(config: InstanceConfig) -> tuple[str, dict]:
    if docker_cli.container_state(config.name) != "running":
        raise InventoryError(f"the local instance {config.name} is not running: start it with "
                             "`onehost instance up` (or `make demo`, which also bakes and deploys)")
    return config.name, {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": config.ssh_port,
        "ssh_user": ADMIN_USER,
        "ssh_key": str(ssh_key()),
        "ssh_known_hosts_file": str(config.known_hosts),
        "ssh_strict_host_key_checking": "accept-new",
        "_sudo": True,
        "env_file": str(config.app_env),
        # A laptop has no public domain for a certificate: plain HTTP (override with --data tls=...).
        "tls": "off",
        # With --data tls=..., HTTP redirects to the instance's published HTTPS port.
        "public_https_port": config.https_port,
        **LOCAL_IMAGES,
    }


def parse_tags(value: str) -> dict[str, str]:
    tags = {}
    for item in (part.strip() for part in value.split(",")):
        key, separator, tag_value = item.partition("=")
        if not item or not separator or not key.strip() or not tag_value.strip():
            raise InventoryError(f"ONEHOST_TAGS={value!r}: write key=value pairs separated by commas, "
                                 "e.g. project=timewarp,environment=production,role=app")
        tags[key.strip()] = tag_value.strip()
    return tags


def reach_mode(environ=os.environ) -> str:
    if "ONEHOST_ADDRESS" in environ:
        raise InventoryError("ONEHOST_ADDRESS is now ONEHOST_REACH: tunnel (the default, through the "
                             "Instance Connect Endpoint), public or private")
    mode = environ.get("ONEHOST_REACH", "tunnel")
    if mode not in reach.REACH_MODES:
        raise InventoryError(f"ONEHOST_REACH={mode!r}: choose one of {', '.join(reach.REACH_MODES)}")
    return mode


def aws_ssh_dir(region: str, tags: dict[str, str]):
    """One ssh_config and known_hosts per set of tags: two environments never share a file."""
    digest = hashlib.sha256(repr(sorted(tags.items())).encode()).hexdigest()[:12]
    return state_dir() / "aws" / f"{region}-{digest}"


def tagged_hosts(ec2, tags: dict[str, str], region: str, environ=os.environ) -> list[tuple[str, dict]]:
    """The running instances carrying every tag, as pyinfra hosts (admin over SSH, sudo)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    described = ", ".join(f"{key}={value}" for key, value in tags.items())
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    filters.append({"Name": "instance-state-name", "Values": ["running"]})
    try:
        pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
        instances = [item for page in pages for reservation in page["Reservations"]
                     for item in reservation["Instances"]]
    except NoCredentialsError:
        raise InventoryError("no AWS credentials to find the hosts by their tags: configure them "
                             "(AWS_PROFILE, an SSO login, or OIDC in CI), or name hosts with ONEHOST_HOSTS") from None
    except (ClientError, BotoCoreError) as error:
        raise InventoryError(f"cannot list EC2 instances in {region}: {error}") from None
    mode = reach_mode(environ)
    files = SshFiles(aws_ssh_dir(region, tags), ADMIN_USER, environ.get("ONEHOST_SSH_KEY") or None)
    hosts = []
    for item in sorted(instances, key=lambda found: found["InstanceId"]):
        try:
            entry = reach.host_entry(item, mode, region)
        except reach.ReachError as error:
            raise InventoryError(f"{error} ({described})") from None
        data = {**files.add(entry), "_sudo": True,
                "instance_id": item["InstanceId"], "image_id": item.get("ImageId"), "aws_region": region}
        tags_of_instance = {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
        if tags_of_instance.get("project") and tags_of_instance.get("environment"):
            # The backup heartbeat's Host: the stack's alarm watches <project>-<environment>,
            # whichever instance serves.
            data["metrics_host"] = f"{tags_of_instance['project']}-{tags_of_instance['environment']}"
        hosts.append((item["InstanceId"], data))
    if not hosts:
        raise InventoryError(f"no running EC2 instance in {region} has the tags {described}: check the "
                             "tags and the region (AWS_REGION), or launch one")
    files.write()
    return hosts


def aws_hosts(environ=os.environ) -> list[tuple[str, dict]]:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise InventoryError("ONEHOST_TAGS is set but no region: set AWS_REGION (e.g. eu-west-1)")
    import boto3
    ec2 = boto3.client("ec2", region_name=region)
    return tagged_hosts(ec2, parse_tags(environ["ONEHOST_TAGS"]), region, environ)


def hosts_from_environment(environ=os.environ) -> list[tuple[str, dict]]:
    if "ONEHOST_TAGS" in environ:
        hosts, local = aws_hosts(environ), False
    elif "ONEHOST_HOSTS" in environ:
        hosts, local = static_hosts(environ["ONEHOST_HOSTS"], environ), False
    else:
        hosts, local = [local_instance_host(InstanceConfig.from_environment(environ))], True
    if environ.get("ONEHOST_APP_CONFIG"):
        try:
            settings = app_config.host_data(app_config.load(environ["ONEHOST_APP_CONFIG"]), local)
        except app_config.AppConfigError as error:
            raise InventoryError(str(error)) from None
        for _, data in hosts:
            data.update(settings)
    return hosts
