"""Image registries: which one an image reference names, its digest, and how the host pulls it.

The deploying machine resolves a tag to its manifest digest before the host is touched (ECR
through boto3, every other registry through the local Docker daemon), so a wrong password,
a missing tag or an unreachable registry stops the deploy with nothing changed. The host then
pulls `repository@sha256:...`: exactly the image that was checked, whatever the tag does later.

Credentials reach the host only for the pull, in a throwaway Docker config directory under
/run (tmpfs) that is removed afterwards; ECR needs none (root's Docker asks the ECR credential
helper, which uses the instance role).
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
# The key Docker itself uses for Docker Hub in a config.json's "auths".
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)"
                      r"\.amazonaws\.com(?:\.cn)?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"^{PATH_PART}(?:/{PATH_PART})*$")
REGISTRY_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                           r"|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")

PASSWORD_ENV = "ONEHOST_REGISTRY_PASSWORD"
HOW_TO_GIVE_A_PASSWORD = (f"put the password in the environment variable {PASSWORD_ENV}, or in a "
                          "file on this machine named by --data registry_password_file=PATH")


class RegistryError(ValueError):
    """A registry problem found before the host is touched; the message says what to fix."""


@dataclass(frozen=True)
class ImageReference:
    registry: str            # "docker.io", "127.0.0.1:5000", "<acct>.dkr.ecr.<region>.amazonaws.com"
    repository: str          # "library/postgres", "timewarp"
    tag: str | None          # None when the reference names a digest only
    digest: str | None       # "sha256:..." when the reference names one

    @property
    def kind(self) -> str:
        """'dockerhub', 'ecr' or 'other'."""
        if self.registry == DOCKER_HUB:
            return "dockerhub"
        return "ecr" if ECR_HOST.match(self.registry) else "other"

    @property
    def ecr_account(self) -> str | None:
        match = ECR_HOST.match(self.registry)
        return match["account"] if match else None

    @property
    def ecr_region(self) -> str | None:
        match = ECR_HOST.match(self.registry)
        return match["region"] if match else None

    @property
    def name(self) -> str:
        """The repository as Docker shows it: Docker Hub's implicit parts left out."""
        if self.registry != DOCKER_HUB:
            return f"{self.registry}/{self.repository}"
        return self.repository.removeprefix("library/")

    @property
    def auth_key(self) -> str:
        """The registry's key in a Docker config.json's "auths"."""
        return DOCKER_HUB_AUTH_KEY if self.kind == "dockerhub" else self.registry

    def pinned(self, digest: str) -> str:
        """`repository@sha256:...`: what the host pulls and compose runs."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Docker's reading of an image reference: [registry/]repository[:tag][@digest].

    The first part is a registry when it holds a '.' or a ':' or is 'localhost'; without
    one the registry is Docker Hub, where a single-part name lives under 'library/'.
    """
    reference = text.strip()
    name, _, digest = reference.partition("@")
    if digest and not DIGEST.match(digest):
        raise RegistryError(f"image {text!r}: the digest must be sha256: and 64 hex digits")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    if not REGISTRY_HOST.match(registry):
        raise RegistryError(f"image {text!r}: {registry!r} is not a registry host[:port]")
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    path, colon, tag = path.partition(":")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or not REPOSITORY.match(path):
        raise RegistryError(f"image {text!r}: the repository must be lowercase letters, digits and "
                            "separators (e.g. registry.example.com/team/app:v1)")
    if colon and not TAG.match(tag):
        raise RegistryError(f"image {text!r}: a tag is up to 128 letters, digits, '_', '.' and '-'")
    if not colon and not digest:
        tag = "latest"
    return ImageReference(registry, path, tag or None, digest or None)


# --- credentials ------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def auth_config(self, reference: ImageReference) -> dict:
        """The docker SDK's auth_config for the registry."""
        return {"username": self.username, "password": self.password,
                "serveraddress": reference.auth_key}


def refuse_password_data(data) -> None:
    """A password given as --data shows in process lists and pyinfra's output: never take one."""
    if data.get("registry_password") is not None:
        raise RegistryError("registry_password is not taken as data (it would show in process lists "
                            f"and pyinfra's output): {HOW_TO_GIVE_A_PASSWORD}")


def credentials_from(data, environ=os.environ) -> Credentials | None:
    """registry_username with the password from ONEHOST_REGISTRY_PASSWORD or registry_password_file.

    `data` is pyinfra's host.data (or a dict). No username: anonymous (ECR: AWS credentials).
    """
    refuse_password_data(data)
    username = data.get("registry_username")
    password_file = data.get("registry_password_file")
    from_environment = environ.get(PASSWORD_ENV)
    if not username:
        if password_file:
            raise RegistryError("registry_password_file is given but registry_username is not: "
                                "give the user as --data registry_username=NAME")
        return None
    if password_file and from_environment:
        raise RegistryError(f"both {PASSWORD_ENV} and registry_password_file are given: give one")
    if password_file:
        path = Path(password_file).expanduser()
        if not path.is_file():
            raise RegistryError(f"registry_password_file {path} does not exist: give a file holding "
                                f"the password of {username}, or set {PASSWORD_ENV}")
        password = path.read_text().rstrip("\r\n")
    else:
        password = from_environment or ""
    if not password:
        raise RegistryError(f"registry_username is {username} but no password is given: "
                            f"{HOW_TO_GIVE_A_PASSWORD}")
    return Credentials(username, password)


def check_credentials_fit(reference: ImageReference, credentials: Credentials | None) -> None:
    if credentials and reference.kind == "ecr":
        raise RegistryError(
            f"registry_username is set for {reference.registry}, an ECR registry, which takes AWS "
            "credentials instead (this machine's to find the digest, the instance role on the "
            "host): unset registry_username")


def docker_config(reference: ImageReference, credentials: Credentials) -> str:
    """config.json of the throwaway Docker config directory: one registry, basic auth."""
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    return json.dumps({"auths": {reference.auth_key: {"auth": token}}}) + "\n"


UNAUTHORIZED = ("unauthorized", "no basic auth credentials", "authentication required", "denied")
MISSING = ("manifest unknown", "name unknown", "not found")
UNREACHABLE = ("dial tcp", "connection refused", "no such host", "i/o timeout", "timeout",
               "server gave http response to https client", "tls:", "certificate")


def distribution_error(reference: ImageReference, credentials: Credentials | None, status: int | None,
                       explanation: str) -> str:
    """The Docker daemon's answer about a registry, as one line that says what to fix."""
    detail = explanation.strip().splitlines()[0][:200] if explanation.strip() else f"HTTP {status}"
    lowered = detail.lower()
    if status == 401 or any(word in lowered for word in UNAUTHORIZED):
        if credentials:
            return (f"registry {reference.registry} refused user {credentials.username} ({detail}): "
                    f"check registry_username and the password in {PASSWORD_ENV} or the file "
                    "named by registry_password_file")
        return (f"registry {reference.registry} refused anonymous access to {reference} ({detail}): "
                f"give a user with --data registry_username=NAME and {HOW_TO_GIVE_A_PASSWORD}")
    if status == 404 or any(word in lowered for word in MISSING):
        return missing_message(reference)
    if any(word in lowered for word in UNREACHABLE):
        return (f"registry {reference.registry} is not reachable from this machine ({detail}): check "
                "the registry's address and port and that it is up")
    return f"registry {reference.registry} could not say what {reference} is: {detail}"


def missing_message(reference: ImageReference) -> str:
    return (f"{reference} is not in registry {reference.registry} (no such repository, tag or "
            f"digest): push it first (docker push {reference}), or check the name and tag")


# --- pulling on the host (argument lists) ----------------------------------------------------

def protect_config(directory: str) -> list[str]:
    return ["chmod", "600", f"{directory}/config.json"]


def pull(reference: str, config_dir: str | None = None) -> list[str]:
    """`docker pull` of a pinned reference; with a config dir, as that dir's credentials."""
    config = ["--config", config_dir] if config_dir else []
    return ["docker", *config, "pull", "--quiet", reference]


