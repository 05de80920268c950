"""A release: the app image, its environment and the compose file, named by their content.

Pure functions: the deploy file calls them at plan time, so bad input stops the deploy
before anything on the host changes.
"""

import hashlib
import io
import json
import re

from dotenv.parser import parse_stream

REQUIRED_APP_SECRETS = ("SECRET_KEY", "DB_PASSWORD")
# In a release directory once its image's static files are copied to the static directory.
STATIC_PUBLISHED_MARKER = "static-published"
# Written as they are: Compose reads these unquoted without change (no `$`, `#`, quote, space or
# backslash, which its parser treats specially).
PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")
# Inside double quotes Compose's parser (compose-go dotenv/parser.go: extractVarValue, then
# expandEscapes, then interpolation) turns `\\` into `\`, `\"` into `"`, `\$` into a literal `$`
# (through `$$`), and `\n`/`\r` into newline and carriage return.
COMPOSE_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r"}


class ReleaseError(ValueError):
    """Input that cannot make a release; the message says what to fix."""


def parse_env_file(text: str, source: str) -> dict[str, str]:
    """An env file as python-dotenv reads it (https://github.com/theskumar/python-dotenv#file-format):
    quotes, escapes in double quotes, `export`, comments, values over several lines in quotes.
    `${VAR}` is not expanded: a secret holding `$` arrives as written."""
    values = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            got = (binding.original.string.strip().splitlines() or [""])[0][:40]
            raise ReleaseError(f"{source}:{line}: expected KEY=VALUE, got {got!r}")
        if binding.key is None:
            continue
        if binding.value is None:
            raise ReleaseError(f"{source}:{line}: {binding.key} has no '=': write {binding.key}=value "
                               f"(or {binding.key}= for an empty value)")
        values[binding.key] = binding.value
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
        if "\0" in value:
            raise ReleaseError(f"{key} in {source} holds a NUL byte, which no process environment can carry")


# What the PostgreSQL image reads only when it initialises an empty data directory
# (docker-library/postgres, docker-entrypoint.sh: docker_setup_env, then docker_setup_db only
# when `$DATABASE_ALREADY_EXISTS` is empty): changing them later cannot log anyone in.
DATA_IDENTITY_KEYS = ("POSTGRES_USER", "POSTGRES_DB")


def data_identity_refusal(current: dict[str, str] | None, requested: dict[str, str], host_name: str,
                          app_config: str | None) -> str | None:
    """Why a deploy must not go on, when it would start PostgreSQL as another user or database
    than its data volume was initialised with; None when the names match or there is no data
    stack yet (a first deploy). `app_config` is ONEHOST_APP_CONFIG as this shell has it."""
    if not current:
        return None
    changed = [key for key in DATA_IDENTITY_KEYS if current.get(key) and current[key] != requested.get(key)]
    if not changed:
        return None
    now = ", ".join(f"{key}={current.get(key)}" for key in DATA_IDENTITY_KEYS)
    asked = ", ".join(f"{key}={requested.get(key)}" for key in DATA_IDENTITY_KEYS)
    if app_config:
        cause = (f"ONEHOST_APP_CONFIG={app_config} names another app's onehost.toml than the one this "
                 "host was first deployed with, or --data db_user/db_name differ")
    else:
        cause = ("ONEHOST_APP_CONFIG is not set in this shell, so the deploy fell back to the default "
                 "app name (or --data db_user/db_name differ)")
    return (f"{host_name}: refused: the data stack's PostgreSQL was initialised with {now}, and this deploy "
            f"asks for {asked}; PostgreSQL keeps the user and database its data volume was created with, "
            f"so the app could not log in. Likely cause: {cause}. Fix: export ONEHOST_APP_CONFIG=<the "
            f"project's onehost.toml> (the one with this host's app_name), or pass --data "
            f"db_user={current.get('POSTGRES_USER')} --data db_name={current.get('POSTGRES_DB')}. "
            "Nothing on the host was changed.")


def compose_env_value(value: str) -> str:
    """One value as Compose's env-file parser gives it back byte for byte."""
    if PLAIN_VALUE.match(value):
        return value
    return '"' + "".join(COMPOSE_ESCAPES.get(char, char) for char in value) + '"'


def render_env(env: dict[str, str]) -> str:
    """An env file for Compose (`env_file:` and `--env-file`), sorted so its text is stable."""
    return "".join(f"{key}={compose_env_value(value)}\n" for key, value in sorted(env.items()))


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
