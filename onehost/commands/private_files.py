"""Files no other user of the host may read at any moment: secrets and the user's data.

pyinfra's `files.put` under sudo uploads to /tmp as the SSH user, copies that into place and only
then changes the mode (pyinfra connectors/ssh.py `put_file`, operations/files.py `put`): for a
moment both copies are as readable as the SSH user's umask makes them. Here the upload lands in a
0700 directory of the SSH user under /run (tmpfs: never on the host's disks), root copies it beside
its destination with umask 077 and renames it into place. Argument lists; the deploy runs them.
"""

import secrets

STAGING_PREFIX = "/run/onehost-upload-"


def staging_dir() -> str:
    """A fresh name under /run."""
    return f"{STAGING_PREFIX}{secrets.token_hex(8)}"


def make_staging_dir(directory: str) -> list[str]:
    """Mode 0700, owned by the SSH user so the upload (made as that user) can land in it."""
    return ["sh", "-c", 'install -d -m 700 -o "${SUDO_USER:-$(id -un)}" "$1"', "make-staging-dir",
            directory]


def install_private(directory: str, dest: str, mode: str = "600") -> list[str]:
    """Copy `directory`/file into place as root:root `mode`: created under umask 077 beside
    `dest`, renamed over it whole. The staging directory goes whatever happened."""
    script = ('umask 077 && install -o root -g root -m "$3" "$1/file" "$2.onehost-new" '
              '&& mv -f "$2.onehost-new" "$2"; status=$?; rm -rf -- "$1"; exit $status')
    return ["sh", "-c", script, "install-private", directory, dest, mode]


def remove_staging_dir(directory: str) -> list[str]:
    if not directory.startswith(STAGING_PREFIX):
        raise ValueError(f"{directory} is not a staging directory of this tool")
    return ["rm", "-rf", "--", directory]
