"""Reading host.data: the host's layout and the flags and numbers the tasks and plans take."""

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from onehost.commands.switch import HostLayout


def host_layout() -> HostLayout:
    data = host.data
    return HostLayout(data_dir=data.data_dir, network=data.network_name, app_port=data.app_port,
                      server_name=data.server_names[0], tls=data.get("tls") == "letsencrypt")


def flag(name: str) -> bool:
    return str(host.data.get(name, "")).lower() in ("1", "true", "yes")


def whole_number(name: str) -> int:
    value = str(host.data.get(name))
    if not value.isdigit():
        raise DeployError(f"{name} is {value!r}: give a whole number of seconds, e.g. --data {name}=30")
    return int(value)
