"""Local stand-ins for registry base images, built from Debian packages.

This machine reaches no container registry, so `FROM python:3.13-slim`, `postgres:17`,
`nginx` and the Debian cloud image of the EC2 host cannot be pulled. Each stand-in is
built here with `mmdebstrap` from Debian trixie packages, piped into `docker import`,
and tagged `onehost-base/<name>:<hash12>` where the hash covers everything that goes
into it (the recipe, the files under `images/<name>/`, the recipe format). A second
run finds the tag and builds nothing. Users with a registry use the real images.

Recipes are data (`RECIPES`); the functions below them turn a recipe into argument
lists (pure, unit-tested as exact lists) and run them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from onehost.commands.host_defaults import POSTGRES_MAJOR
from onehost.local import docker_cli
from onehost.local.content_hash import digest
from onehost.local.shell import CommandFailed, output, progress, run, timed
from onehost.paths import REPO_ROOT

# Bump when the way a recipe becomes an image changes, so every image is rebuilt.
RECIPE_FORMAT = 1

REPOSITORY = "onehost-base"
IMAGES_DIR = REPO_ROOT / "images"
SUITE = "trixie"

STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --------------------------------------------------------------------------- recipes

@dataclass(frozen=True)
class FileCopy:
    """A file from images/<name>/ placed in the image at `target` with `mode`."""
    source: str
    target: str
    mode: str = "0644"


@dataclass(frozen=True)
class Recipe:
    name: str
    stands_in_for: str
    packages: tuple[str, ...]
    # Dockerfile instructions applied by `docker import --change`.
    changes: tuple[str, ...]
    # Shell snippets run by mmdebstrap with the chroot as "$1": before packages are
    # installed (setup) and after (customize, after `files` are copied in).
    setup_hooks: tuple[str, ...] = ()
    customize_hooks: tuple[str, ...] = ()
    files: tuple[FileCopy, ...] = ()
    # `docker import --change` on a 20.10 daemon refuses STOPSIGNAL, so it is set by a
    # one-line `FROM <imported id>` build after the import (no new layer).
    stop_signal: str | None = None
    suite: str = SUITE


# Keep images small: no docs, man pages or translations (copyright files stay), no
# Recommends, no package description translations. Written into the image's dpkg and
# apt configuration, so packages installed later in a derived image follow them too.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/lintian/*",
)
APT_OPTIONS = (
    'APT::Install-Recommends "false"',
    'APT::Install-Suggests "false"',
    'Acquire::Languages "none"',
)
# Run after every recipe's own customize hooks.
CLEANUP_HOOKS = (
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old',
    'rm -f "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/var/log/alternatives.log',
    # mmdebstrap copies these from the build host; Docker mounts its own at run time.
    ': > "$1/etc/resolv.conf"',
    'echo localhost > "$1/etc/hostname"',
)

PG_MAJOR = POSTGRES_MAJOR
PG_BIN = f"/usr/lib/postgresql/{PG_MAJOR}/bin"

# Units masked in the instance image; the rest stays as on a Debian cloud image.
# Measured: with only the first one masked systemd reports `running`; the others are
# masked because in a container they act on the host's kernel, which it shares.
INSTANCE_MASKED_UNITS = (
    "systemd-modules-load.service",       # fails: this kernel has no loadable modules
    "systemd-firstboot.service",          # would prompt on a console (machine-id is empty)
    "getty@tty1.service",                 # no virtual consoles in a container
    "systemd-binfmt.service",             # binfmt_misc registrations are host-wide
    "proc-sys-fs-binfmt_misc.automount",
    "sys-kernel-debug.mount",             # the host kernel's debugfs and tracefs
    "sys-kernel-tracing.mount",
    "sys-kernel-config.mount",
    "dev-hugepages.mount",
)

RECIPES: dict[str, Recipe] = {
    "python": Recipe(
        name="python",
        stands_in_for="python:3.13-slim",
        packages=("ca-certificates", "netbase", "tzdata", "passwd", "python3",
                  "python3-venv", "python3-pip", "python-is-python3"),
        # Like python:3.13-slim, let `pip install` work in the image's own Python
        # (Debian marks the system Python as externally managed).
        customize_hooks=('rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',),
        changes=(
            f"ENV PATH={STANDARD_PATH}",
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
        ),
    ),
    "postgres": Recipe(
        name="postgres",
        stands_in_for="postgres:17",
        packages=(f"postgresql-{PG_MAJOR}", "ca-certificates", "tzdata", "util-linux"),
        setup_hooks=(
            # The image's entrypoint creates the cluster in PGDATA; the Debian package must not.
            'mkdir -p "$1/etc/postgresql-common/createcluster.d"',
            'echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/onehost.conf"',
        ),
        files=(FileCopy("docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh", "0755"),),
        customize_hooks=(
            'chroot "$1" install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data',
            'mkdir -p "$1/docker-entrypoint-initdb.d"',
        ),
        changes=(
            f"ENV PATH={PG_BIN}:{STANDARD_PATH}",
            "ENV LANG=C.UTF-8",
            f"ENV PG_MAJOR={PG_MAJOR}",
            "ENV PGDATA=/var/lib/postgresql/data",
            "VOLUME /var/lib/postgresql/data",
            'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
            "EXPOSE 5432",
            'CMD ["postgres"]',
        ),
        stop_signal="SIGINT",  # fast shutdown, as the official image
    ),
    "nginx": Recipe(
        name="nginx",
        stands_in_for="nginx",
        packages=("nginx", "ca-certificates", "tzdata"),
        setup_hooks=('mkdir -p "$1/usr/share/nginx/html" "$1/etc/nginx/conf.d"',),
        files=(
            FileCopy("nginx.conf", "/etc/nginx/nginx.conf"),
            FileCopy("default.conf", "/etc/nginx/conf.d/default.conf"),
            FileCopy("index.html", "/usr/share/nginx/html/index.html"),
            FileCopy("50x.html", "/usr/share/nginx/html/50x.html"),
        ),
        customize_hooks=(
            'rm -f "$1/etc/nginx/sites-enabled/default"',
            # As the official image does: logs go to the container's output.
            'ln -sf /dev/stdout "$1/var/log/nginx/access.log"',
            'ln -sf /dev/stderr "$1/var/log/nginx/error.log"',
            'chroot "$1" nginx -t',
        ),
        changes=(
            f"ENV PATH={STANDARD_PATH}",
            "ENV LANG=C.UTF-8",
            "EXPOSE 80 443",
            'CMD ["nginx", "-g", "daemon off;"]',
        ),
        stop_signal="SIGQUIT",  # graceful shutdown, as the official image
    ),
    # The broker (compose/broker.yaml runs `valkey-server ...`): Debian trixie's Valkey, the
    # server and valkey-cli (the health check), as the official valkey/valkey image has them.
    "broker": Recipe(
        name="broker",
        stands_in_for="valkey/valkey:8.1",
        packages=("valkey-server", "valkey-tools", "ca-certificates", "tzdata"),
        customize_hooks=('mkdir -p "$1/data"',),
        changes=(
            f"ENV PATH={STANDARD_PATH}",
            "ENV LANG=C.UTF-8",
            "WORKDIR /data",
            "EXPOSE 6379",
            'CMD ["valkey-server"]',
        ),
    ),
    "instance": Recipe(
        name="instance",
        stands_in_for="Debian 13 (trixie) cloud image on EC2",
        packages=("systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3",
                  "ca-certificates", "curl", "iproute2", "procps", "iptables", "less"),
        customize_hooks=tuple(
            f'ln -sf /dev/null "$1/etc/systemd/system/{unit}"' for unit in INSTANCE_MASKED_UNITS
        ),
        changes=(
            f"ENV PATH={STANDARD_PATH}",
            "ENV container=docker",
            'CMD ["/bin/bash"]',
        ),
        stop_signal="SIGRTMIN+3",  # what systemd as PID 1 takes as "halt"
    ),
}



# Built only for the tests (the host tier's TLS tests), never by `ensure_all`: the ACME test
# server and its DNS, from Debian's pebble package.
TEST_RECIPES: dict[str, Recipe] = {
    "acme": Recipe(
        name="acme",
        stands_in_for="letsencrypt/pebble and pebble-challtestsrv (tests only)",
        packages=("pebble", "ca-certificates"),
        changes=(f"ENV PATH={STANDARD_PATH}", 'CMD ["pebble", "-h"]'),
    ),
}


# ------------------------------------------------------------- pure command builders

def mmdebstrap_command(recipe: Recipe, images_dir: Path = IMAGES_DIR) -> list[str]:
    """The mmdebstrap arguments that write the recipe's root filesystem as a tar to stdout."""
    image_dir = images_dir / recipe.name
    args = ["mmdebstrap", "--variant=minbase", "--format=tar",
            "--include=" + ",".join(sorted(set(recipe.packages)))]
    args += [f"--aptopt={option}" for option in APT_OPTIONS]
    args += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    args += [f"--setup-hook={hook}" for hook in recipe.setup_hooks]
    for copy in recipe.files:
        args.append(f"--customize-hook=upload {image_dir / copy.source} {copy.target}")
        args.append(f'--customize-hook=chmod {copy.mode} "$1{copy.target}"')
    args += [f"--customize-hook={hook}" for hook in recipe.customize_hooks + CLEANUP_HOOKS]
    args += [recipe.suite, "-"]
    return args


def import_command(recipe: Recipe) -> list[str]:
    """The `docker import` arguments reading the tar on stdin; prints the new image id."""
    args = ["docker", "import"]
    for change in recipe.changes:
        args += ["--change", change]
    args += ["--change", f"LABEL org.opencontainers.image.title={REPOSITORY}/{recipe.name}",
             "--message", f"{REPOSITORY}/{recipe.name}: stands in for {recipe.stands_in_for}",
             "-"]
    return args


def stop_signal_build(recipe: Recipe, image_id: str) -> tuple[list[str], bytes] | None:
    """The `docker build` (arguments, Dockerfile on stdin) that sets STOPSIGNAL, if the recipe has one."""
    if recipe.stop_signal is None:
        return None
    dockerfile = f"FROM {image_id}\nSTOPSIGNAL {recipe.stop_signal}\n".encode()
    return ["docker", "build", "--quiet", "-"], dockerfile


# The legacy builder: it builds FROM a local image without a registry or buildx.
LEGACY_BUILDER_ENV = {"DOCKER_BUILDKIT": "0"}


def recipe_hash(recipe: Recipe, images_dir: Path = IMAGES_DIR) -> str:
    """sha256 of everything an image is made of. Paths are relative, so any checkout agrees."""
    inputs = {
        "format": RECIPE_FORMAT,
        "mmdebstrap": mmdebstrap_command(recipe, Path("images")),
        "import": import_command(recipe),
        "stop_signal": recipe.stop_signal,
    }
    image_dir = images_dir / recipe.name
    return digest([image_dir], json.dumps(inputs, sort_keys=True), root=image_dir)


def reference(recipe: Recipe, images_dir: Path = IMAGES_DIR) -> str:
    return f"{REPOSITORY}/{recipe.name}:{recipe_hash(recipe, images_dir)}"


def latest_reference(recipe: Recipe) -> str:
    return f"{REPOSITORY}/{recipe.name}:latest"


# ------------------------------------------------------------------------- running

def require_tool(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise CommandFailed(f"{tool} not found: install it with: apt-get install {package}")


def _tail(data: bytes, lines: int = 15) -> str:
    return "\n".join(data.decode(errors="replace").strip().splitlines()[-lines:])


def build(recipe: Recipe, ref: str, images_dir: Path = IMAGES_DIR) -> None:
    """mmdebstrap | docker import, then tag `ref` and `:latest`; nothing is tagged on failure."""
    require_tool("mmdebstrap", "mmdebstrap")
    debootstrap = mmdebstrap_command(recipe, images_dir)
    importer = import_command(recipe)
    with timed(f"build {ref} (mmdebstrap {recipe.suite} | docker import)"), \
            tempfile.TemporaryFile() as mm_stderr:
        # Its own session: mmdebstrap's cleanup signals its whole process group, which
        # must not reach the caller (a test run, make).
        mm = subprocess.Popen(debootstrap, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=mm_stderr, start_new_session=True)
        try:
            imp = subprocess.Popen(importer, stdin=mm.stdout, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        except BaseException:
            mm.kill()
            mm.wait()
            raise
        finally:
            mm.stdout.close()  # docker import holds the read end; mmdebstrap sees EPIPE if it dies
        imp_out, imp_err = imp.communicate()
        mm_rc = mm.wait()
        image_id = imp_out.decode().strip()
        if mm_rc != 0:
            if imp.returncode == 0 and image_id:
                run(["docker", "image", "rm", image_id], capture=True, check=False)
            mm_stderr.seek(0)
            detail = _tail(mm_stderr.read())
            if imp.returncode != 0:  # mmdebstrap's broken pipe is then the import's fault
                detail += f"\ndocker import exited {imp.returncode}:\n{_tail(imp_err)}"
            raise CommandFailed(f"mmdebstrap failed ({mm_rc}) building {recipe.name}:\n{detail}")
        if imp.returncode != 0 or not image_id:
            raise CommandFailed(f"docker import failed ({imp.returncode}) for {recipe.name}:\n"
                                f"{_tail(imp_err)}")
        finish = stop_signal_build(recipe, image_id)
        if finish is not None:
            args, dockerfile = finish
            image_id = output(args, input=dockerfile, env={**os.environ, **LEGACY_BUILDER_ENV})
    run(["docker", "tag", image_id, ref])
    run(["docker", "tag", image_id, latest_reference(recipe)])


def ensure(name: str, force: bool = False) -> str:
    """The image reference for `name`, built only if no image with that reference exists."""
    try:
        recipe = {**RECIPES, **TEST_RECIPES}[name]
    except KeyError:
        raise CommandFailed(f"unknown base image {name!r}; known: {', '.join(RECIPES)}") from None
    ref = reference(recipe)
    docker_cli.require_daemon()
    if not force and docker_cli.image_id(ref):
        progress(f"{ref} is present (stands in for {recipe.stands_in_for})")
        run(["docker", "tag", ref, latest_reference(recipe)])
        return ref
    build(recipe, ref)
    size = output(["docker", "image", "inspect", "--format", "{{.Size}}", ref])
    progress(f"{ref} built, {int(size) / 1e6:.0f} MB")
    return ref


def ensure_all(force: bool = False) -> dict[str, str]:
    return {name: ensure(name, force=force) for name in RECIPES}
