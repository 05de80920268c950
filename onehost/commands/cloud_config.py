"""A host's first-boot user data: the cloud-config that gives the admin user the operator's
public keys. `onehost hosts` gives it to an EC2 instance; `onehost instance up` puts the same
document in the local instance's NoCloud seed, so both boot the same way.
"""

import json

PUBLIC_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


class PublicKeyError(ValueError):
    """Not one OpenSSH public key; the message names the source and the fix."""


def public_key_line(text: str, source: str) -> str:
    """One OpenSSH public key (`ssh-ed25519 AAAA... comment`), or PublicKeyError naming `source`."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1 or lines[0].split()[0] not in PUBLIC_KEY_TYPES or len(lines[0].split()) < 2:
        raise PublicKeyError(f"{source} is not one OpenSSH public key (ssh-ed25519 AAAA...): give the .pub "
                             "file, e.g. --ssh-public-key ~/.ssh/id_ed25519.pub")
    return lines[0]


def user_data(public_keys: list[str]) -> str:
    """cloud-config for first boot: the operator's keys for the admin user. The baked image
    removes every authorized key, so without these (or an EC2 key pair) no one can log in.

    cloud-init's cc_ssh module adds `ssh_authorized_keys` to the default user, which is `admin`
    on Debian's cloud images (cloudinit/config/cc_ssh.py; Debian's cloud.cfg `default_user`).
    Nothing here waits for the data volume: the swap attaches it after the instance answers
    and mounts it over SSH, and a script that held boot for the volume held the wait for boot."""
    if not public_keys:  # an EC2 key pair only: cc_ssh would extend its list by a null
        return "#cloud-config\n"
    keys = "".join(f"  - {json.dumps(key)}\n" for key in public_keys)  # JSON strings are YAML
    return "#cloud-config\nssh_authorized_keys:\n" + keys
