"""The app's uploaded files (Django's MEDIA_ROOT): one directory on the data volume, every release's.

<data_dir>/media is mounted into each colour's app container at APP_MEDIA_ROOT (compose/app.yaml)
and read-only into nginx, which serves MEDIA_URL from it (nginx/templates/app-locations.inc.j2).
It is outside the release directories, so a deploy or a rollback keeps it, and on the data
volume, so a host swap keeps it too. The deploy gives it to the user the release's image runs
as (deploy/tasks/media_files.py); the SQLite move can bring a project's existing files into it,
checked by SHA-256 before and after (onehost/remote/sqlite_import.py).

Pure builders and comparisons here; nothing runs.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MEDIA_DIR_NAME = "media"
# Where the app container sees the directory; MEDIA_ROOT's default in the production settings.
APP_MEDIA_ROOT = "/app/media"
MEDIA_URL = "/media/"
# Written into a release directory once its image's user owns the media directory.
OWNED_MARKER = "media-owned"
# The SQLite move's upload of the project's media files, in its staging directory.
MEDIA_ARCHIVE_NAME = "media.tar"


class MediaRefused(Exception):
    """The media files cannot be moved as asked; the message names the files and the fix."""


def media_dir(data_dir: str) -> str:
    return f"{data_dir}/{MEDIA_DIR_NAME}"


@dataclass(frozen=True)
class MediaUpload:
    """The SQLite move's media files: the project's directory, as a tar uploaded with the file."""
    source: str                          # the project's MEDIA_ROOT, on this machine
    local_archive: str                   # the tar made of it, on this machine
    archive: str                         # the tar on the host, in the import's staging directory
    target: str                          # <data_dir>/media
    files: tuple[tuple[str, str], ...]   # (name relative to the directory, SHA-256), sorted

    @property
    def manifest(self) -> dict[str, str]:
        return dict(self.files)


# --- command builders -----------------------------------------------------------------------

# `<uid>:<gid>` the image runs as, asked of the image itself: its USER may be a name the host
# does not know, or unset (root), and `docker run` runs as that USER (docs.docker.com
# reference/dockerfile/#user). python3 is in every Django image; --entrypoint replaces the image's
# ENTRYPOINT (one that starts gunicorn would ignore `-c`), docs.docker.com
# reference/cli/docker/container/run/#entrypoint.
IMAGE_USER = "import os; print(f'{os.getuid()}:{os.getgid()}')"


def own_tree(directory: str, owner: str) -> list[str]:
    """Everything under `directory` (itself included) that is not `owner`'s (`uid:gid`) becomes
    its; what already is stays untouched (a large media directory is not rewritten every deploy)."""
    script = ('uid=${2%%:*}; gid=${2##*:}; '
              'find "$1" \\( ! -user "$uid" -o ! -group "$gid" \\) -exec chown -h "$2" {} +')
    return ["sh", "-c", script, "own-tree", directory, owner]


def numeric_owner(config_user: str | None) -> str | None:
    """`uid:gid` from an image's configured user (`docker image inspect` .Config.User) when it
    says both without the image's /etc/passwd: "10001:10001", or "" (root). A name, or a uid
    alone (its group comes from /etc/passwd), needs the image asked (give_to_image_user).
    https://docs.docker.com/reference/dockerfile/#user"""
    if config_user == "":
        return "0:0"
    uid, _, gid = (config_user or "").partition(":")
    return f"{uid}:{gid}" if uid.isdigit() and gid.isdigit() else None


def give_to_image_user(directory: str, image: str, marker: str, owner: str | None = None) -> list[str]:
    """The deploy's step: the directory (mode 755: nginx's worker reads it) and its files given to
    the image's user, then `marker` written (the release's image is asked once). `owner`
    (numeric_owner) saves running the image to ask."""
    script = ('set -e; owner=$5; [ -n "$owner" ] || '
              'owner=$(docker run --rm --network none --entrypoint python3 "$2" -c "$4" | tail -n 1); '
              'case "$owner" in *[!0-9:]*|"") echo "could not read the user image $2 runs as '
              '(python3 -c in it printed: $owner)" >&2; exit 1;; esac; '
              'mkdir -p "$1"; chmod 755 "$1"; uid=${owner%%:*}; gid=${owner##*:}; '
              'find "$1" \\( ! -user "$uid" -o ! -group "$gid" \\) -exec chown -h "$owner" {} +; '
              'echo "$owner" > "$3"; echo "$1 belongs to $owner, the user image $2 runs as"')
    return ["sh", "-c", script, "give-media-dir", directory, image, marker, IMAGE_USER, owner or ""]


def manifest_command(directory: str) -> list[str]:
    """`sha256sum` of every regular file under `directory`, names relative to it (`./a/b.png`);
    nothing when it does not exist."""
    script = 'cd "$1" 2>/dev/null || exit 0; find . -type f -print0 | xargs -0 -r sha256sum --'
    return ["sh", "-c", script, "media-manifest", directory]


def extract_archive(archive: str, directory: str) -> list[str]:
    """Unpack the project's files into the media directory. GNU tar's --skip-old-files leaves a
    file (or directory) that exists untouched, without an error (the import refused any file that
    differs first), gnu.org/software/tar/manual/html_node/Keep-Old-Files.html; --no-same-owner:
    the owner is set afterwards (own_tree). The archive holds files only (write_archive)."""
    return ["tar", "--extract", "--file", archive, "--directory", directory, "--skip-old-files",
            "--no-same-owner"]


# --- manifests ------------------------------------------------------------------------------

def _unescape(name: str) -> str:
    """sha256sum escapes a name holding a newline or a backslash (and marks its line with `\\`)."""
    out, index = [], 0
    while index < len(name):
        if name[index] == "\\" and index + 1 < len(name):
            out.append({"n": "\n", "\\": "\\", "r": "\r"}.get(name[index + 1], name[index + 1]))
            index += 2
        else:
            out.append(name[index])
            index += 1
    return "".join(out)


def parse_manifest(output: str) -> dict[str, str]:
    """{relative name: sha256} from manifest_command's output (coreutils' `HASH  ./NAME` lines)."""
    files = {}
    for line in output.splitlines():
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64:
            continue
        name = _unescape(name) if escaped else name
        files[name.removeprefix("./")] = digest
    return files


def sha256_file(path: Path) -> str:
    with path.open("rb") as opened:
        return hashlib.file_digest(opened, "sha256").hexdigest()


def local_files(directory: Path) -> Iterator[Path]:
    """The regular files under `directory`, sorted; links are not followed (a link could point
    anywhere on this machine)."""
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path


def local_manifest(directory: Path) -> dict[str, str]:
    return {path.relative_to(directory).as_posix(): sha256_file(path) for path in local_files(directory)}


def check_media_dir(path: str | None) -> Path | None:
    """The project's media directory as given (--data media=PATH), or None when not given."""
    if not path:
        return None
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise MediaRefused(f"the media directory {directory} does not exist or is not a directory: give "
                           "the project's MEDIA_ROOT with --data media=PATH, or leave media out")
    return directory


def write_archive(directory: Path, manifest: dict[str, str], archive: Path) -> None:
    """A tar of the manifest's files alone (tar makes their directories, 0755 under root's umask):
    mode 0644, whatever they were here, so nginx's worker reads them."""
    def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        return info

    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(manifest):
            tar.add(directory / name, arcname=name, recursive=False, filter=normalised)


def _named(names: list[str], shown: int = 10) -> str:
    listed = ", ".join(names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def conflicts(project: dict[str, str], on_host: dict[str, str]) -> list[str]:
    """Files the host already has under the same name with other content."""
    return sorted(name for name, digest in project.items() if name in on_host and on_host[name] != digest)


def conflict_message(names: list[str], directory: str) -> str:
    return (f"{len(names)} media file(s) already on the host in {directory} have the same name and other "
            f"content: {_named(names)}. Nothing was overwritten and nothing imported: rename or remove "
            "those files (on the host or in the project's media directory), then import again")


@dataclass(frozen=True)
class MediaComparison:
    expected: int           # files in the project's directory
    present: int            # of those, on the host with the same SHA-256
    missing: tuple[str, ...]
    different: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.missing and not self.different


def compare_manifests(project: dict[str, str], on_host: dict[str, str]) -> MediaComparison:
    """Every file of the project on the host, byte for byte (files only the host has, the site's
    own uploads, are not the import's business)."""
    missing = tuple(sorted(name for name in project if name not in on_host))
    different = tuple(sorted(name for name in project if name in on_host and on_host[name] != project[name]))
    return MediaComparison(len(project), len(project) - len(missing) - len(different), missing, different)


def verification_message(comparison: MediaComparison, directory: str) -> str:
    parts = [f"{len(names)} {what}: {_named(list(names))}" for names, what in (
        (comparison.missing, "missing"), (comparison.different, "with other content (SHA-256)")) if names]
    return (f"MEDIA VERIFICATION FAILED: {comparison.present} of {comparison.expected} media file(s) are in "
            f"{directory} as in the project's directory; " + "; ".join(parts)
            + ". Import again to copy them (files already there with the same content are kept)")


def verified_message(comparison: MediaComparison, directory: str) -> str:
    return (f"media verified: {comparison.present} of {comparison.expected} file(s) in {directory}, "
            "SHA-256 equal to the project's")
