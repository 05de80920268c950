"""Which hosts a deploy targets: the local instance by default, or static hosts.

ONEHOST_HOSTS="admin@203.0.113.10,deploy@app.example.com:2200" names static hosts;
unset, the inventory is the local instance (which must be running).
"""

import os
import re

from pyinfra.api.exceptions import InventoryError

from onehost import docker_cli
from onehost.instance import ADMIN_USER, InstanceConfig, ssh_key

HOST_SPEC = re.compile(r"^(?:(?P<user>[a-z_][a-z0-9_-]*)@)?(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?$")
# Debian-built stand-ins for the official images, made by `onehost base-images`.
LOCAL_IMAGES = {"postgres_image": "onehost-base/postgres:latest",
                "nginx_image": "onehost-base/nginx:latest"}


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
        **LOCAL_IMAGES,
    }


def hosts_from_environment(environ=os.environ) -> list[tuple[str, dict]]:
    if "ONEHOST_HOSTS" in environ:
        return static_hosts(environ["ONEHOST_HOSTS"], environ)
    return [local_instance_host(InstanceConfig.from_environment(environ))]
