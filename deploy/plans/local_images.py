"""The local images a deploy names, as this machine's Docker daemon describes them: inspected
side by side, once per run (docker_cli.inspect_images), then read for their ids, users and labels."""

from onehost.local import docker_cli

_DESCRIBED: dict[str, dict | None] = {}


def describe(*references: str) -> None:
    """Inspect those not inspected yet, all at once; each is then known by its id too."""
    for reference, described in docker_cli.inspect_images(r for r in references if r not in _DESCRIBED).items():
        _DESCRIBED[reference] = described
        if described:
            _DESCRIBED[described["Id"]] = described


def _described(reference: str) -> dict | None:
    describe(reference)
    return _DESCRIBED[reference]


def image_id(reference: str) -> str | None:
    """The image's id, or None when this machine has no such image."""
    described = _described(reference)
    return described["Id"] if described else None


def user(reference: str) -> str | None:
    """The user the image runs as (Config.User: "", "app", "10001:10001"), or None when this
    machine has no such image."""
    described = _described(reference)
    if described is None:
        return None
    return (described.get("Config") or {}).get("User") or ""


def label(reference: str, name: str) -> str | None:
    """One of the image's labels, or None."""
    described = _described(reference)
    if described is None:
        return None
    return ((described.get("Config") or {}).get("Labels") or {}).get(name) or None
