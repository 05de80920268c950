"""A project's deploy settings (onehost.toml, written by `onehost init`), as pyinfra host data.

The inventory reads the file named by ONEHOST_APP_CONFIG and gives each host its values; as
with any host data, `--data` on the command line overrides them.
"""

import re
import tomllib
from pathlib import Path

from onehost.commands import processes as process_commands
from onehost.commands.registry import RegistryError, parse_reference
from onehost.local.shell import CommandFailed

KEYS = {"app_name", "server_names", "image", "registry"}
# May be left out: no processes beside the web server, no broker.
OPTIONAL_KEYS = {"processes", "broker"}
# An app name: it names the image and the database.
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class AppConfigError(CommandFailed):
    pass


def parse(text: str, where: str) -> dict:
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AppConfigError(f"{where} is not valid TOML ({error}): fix it, or run `onehost init --force` "
                             "to write it again") from None
    unknown = sorted(set(config) - KEYS - OPTIONAL_KEYS)
    if unknown:
        raise AppConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; it takes "
                             f"{', '.join(sorted(KEYS | OPTIONAL_KEYS))}")
    missing = sorted(KEYS - set(config))
    if missing:
        raise AppConfigError(f"{where}: {', '.join(missing)} missing; `onehost init --dry` shows a complete file")
    if not isinstance(config["app_name"], str) or not NAME.match(config["app_name"]):
        raise AppConfigError(f"{where}: app_name {config['app_name']!r} must be lowercase letters, digits, "
                             "- and _, starting with a letter")
    names = config["server_names"]
    if not isinstance(names, list) or not names or not all(isinstance(name, str) and name for name in names):
        raise AppConfigError(f"{where}: server_names must be a list of domain names, e.g. [\"api.example.com\"]")
    # Read as Docker reads references (onehost.commands.registry), with a tag the deploy would add.
    if not isinstance(config["image"], str) or not _is_reference(f"{config['image']}:v1"):
        raise AppConfigError(f"{where}: image {config['image']!r} must be a repository name without a tag, "
                             "e.g. \"shop\" or \"team/shop\" (the deploy names the tag: --data tag=v1)")
    registry = config["registry"]
    if not isinstance(registry, str) or not (registry == "none"
                                             or _is_reference(f"{registry}/{config['image']}:v1")):
        raise AppConfigError(f"{where}: registry {registry!r} must be \"none\" (images shipped over SSH), "
                             "\"docker.io\", an ECR registry or host:port")
    try:
        process_commands.check_processes(config.get("processes", {}))
        process_commands.check_broker(config.get("broker", "off"), "64mb")
    except process_commands.ProcessError as error:
        raise AppConfigError(f"{where}: {error}") from None
    return config


def _is_reference(text: str) -> bool:
    try:
        parse_reference(text)
    except RegistryError:
        return False
    return True


def host_data(config: dict, local: bool) -> dict:
    """The deploy's data for one host. The local instance keeps its own names (localhost):
    the file's server_names are the public ones, for real hosts."""
    name = config["app_name"]
    database = name.replace("-", "_")
    registry = config["registry"]
    data = {"app_name": name, "db_name": database, "db_user": database,
            "image_repository": config["image"] if registry == "none" else f"{registry}/{config['image']}",
            "pull": registry != "none"}
    if not local:
        data["server_names"] = list(config["server_names"])
    if "processes" in config:
        data["processes"] = dict(config["processes"])
    if "broker" in config:
        data["broker"] = config["broker"]
    return data


def load(path_text: str) -> dict:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise AppConfigError(f"ONEHOST_APP_CONFIG={path_text}: no such file; `onehost init` writes onehost.toml "
                             "in the project's directory")
    return parse(path.read_text(), str(path))


def image_for(data) -> str | None:
    """--data image=REF as given, else image_repository plus --data tag=TAG."""
    if data.get("image"):
        return data.get("image")
    if data.get("tag") and data.get("image_repository"):
        return f"{data.get('image_repository')}:{data.get('tag')}"
    return None
