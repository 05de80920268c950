"""A release: the app image, its environment and the compose file, named by their content.

Pure functions: the deploy file calls them at plan time, so bad input stops the deploy
before anything on the host changes.
"""

import hashlib
import json
import re

REQUIRED_APP_SECRETS = ("SECRET_KEY", "DB_PASSWORD")
ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class ReleaseError(ValueError):
    """Input that cannot make a release; the message says what to fix."""


def parse_env_file(text: str, source: str) -> dict[str, str]:
    """KEY=VALUE lines (Docker's env-file format); blank lines and # comments skipped."""
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = ENV_LINE.match(stripped)
        if not match:
            raise ReleaseError(f"{source}:{number}: expected KEY=VALUE, got {stripped[:40]!r}")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def check_app_env(env: dict[str, str], source: str) -> None:
    """The production settings refuse to start without these; say so before the host is touched."""
    missing = [key for key in REQUIRED_APP_SECRETS if not env.get(key) and not env.get(f"{key}_FILE")]
    if missing:
        raise ReleaseError(
            f"{', '.join(missing)} not set in {source}: add a line KEY=value for each "
            "(a SECRET_KEY comes from: python3 -c 'import secrets; print(secrets.token_urlsafe(50))')")
    if env.get("DEBUG", "").lower() in ("1", "true", "yes", "on"):
        raise ReleaseError(f"DEBUG is on in {source}: a production release must not run with DEBUG")
    for key, value in env.items():
        if "\n" in value:
            raise ReleaseError(f"{key} in {source} holds a newline, which an env file cannot carry")


def render_env(env: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in sorted(env.items()))


def image_tag(reference: str) -> str:
    """The tag part of an image reference ('latest' when none)."""
    name = reference.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def image_repository(reference: str) -> str:
    name = reference.split("@")[0]
    head, _, last = name.rpartition("/")
    repository = last.split(":", 1)[0]
    return f"{head}/{repository}" if head else repository


def pinned_reference(reference: str, image_id: str) -> str:
    """A tag that names one image for good, so an old release still runs what it ran."""
    return f"{image_repository(reference)}:id-{image_id.removeprefix('sha256:')[:12]}"


def shipped_archive(pinned: str) -> str | None:
    """The file name under <data_dir>/images of a shipped image's archive, from its pinned tag
    (onehost-stacks finds it by the same rule); None for an image that came from a registry."""
    _, separator, short_id = pinned.rpartition(":id-")
    return f"{short_id}.tar" if separator and re.fullmatch(r"[0-9a-f]{12}", short_id) else None


def release_id(reference: str, image_id: str, *contents: str) -> str:
    """'<tag>-<hash>': readable, and the same inputs always name the same release."""
    sha = hashlib.sha256(image_id.encode())
    for content in contents:
        sha.update(b"\0" + content.encode())
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", image_tag(reference))[:40]
    return f"{tag}-{sha.hexdigest()[:10]}"


def release_record(release: str, reference: str, image_id: str, git_commit: str | None,
                   deployed_by: str, created_at: str, image_digest: str | None = None) -> str:
    """release.json: who deployed what, when, from which commit. Never holds secrets.

    A pulled image has no local id but a registry digest, which is recorded instead."""
    record = {
        "id": release,
        "image": reference,
        "image_id": image_id,
        "git_commit": git_commit,
        "deployed_by": deployed_by,
        "created_at": created_at,
    }
    if image_digest:
        record["image_digest"] = image_digest
    return json.dumps(record, indent=2) + "\n"


def releases_to_prune(releases: list[tuple[int, str, str]], keep: int, protected: set[str]
                      ) -> tuple[list[str], list[str]]:
    """(release ids, images) to remove: all but the newest `keep` releases and the protected ones.

    `releases` are (modified epoch, id, image) rows. An image still used by a kept release stays.
    """
    newest_first = sorted(releases, reverse=True)
    kept = [row for index, row in enumerate(newest_first) if index < keep or row[1] in protected]
    pruned = [row for row in newest_first if row not in kept]
    kept_images = {image for _, _, image in kept}
    images = sorted({image for _, _, image in pruned if image and image not in kept_images})
    return [release for _, release, _ in pruned], images
