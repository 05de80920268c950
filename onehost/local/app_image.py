"""Building the app image (`onehost build-app`), also behind a TLS-intercepting proxy.

A plain `docker build` installs the app's requirements from PyPI inside the build.
Behind a proxy whose CA only the host trusts, that fails certificate checks; when a
CA bundle is configured on the host, we first run `pip wheel` in a container of the
same base image (so the wheels match its Python and platform) with the CA mounted,
into `<context>/wheelhouse/`, and the Dockerfile then installs only from there.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from onehost.local import docker_cli, init
from onehost.local.shell import CommandFailed, progress, run, timed

CA_BUNDLE_VARIABLES = ("ONEHOST_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
WHEELHOUSE = "wheelhouse"

# Where the wheel container sees its mounts.
CONTEXT_MOUNT = "/context"
CA_MOUNT = "/run/onehost-ca.pem"
WHEELHOUSE_MOUNT = "/wheelhouse"
# The OCI annotation for the source's version-control revision
# (github.com/opencontainers/image-spec, annotations.md): the deploy records it in release.json.
REVISION_LABEL = "org.opencontainers.image.revision"
WHEELHOUSE_COPY = re.compile(r"^COPY\s+(.+?)\s+wheelhous\[e\]\s+/wheels/\s*$", re.MULTILINE)


def find_ca_bundle(environ: Mapping[str, str]) -> str | None:
    """The first configured CA bundle that exists; None means plain PyPI works."""
    for name in CA_BUNDLE_VARIABLES:
        path = environ.get(name)
        if path and Path(path).is_file():
            return path
    return None


def wheelhouse_command(base_image: str, context_dir, ca_bundle: str, user: str | None = None,
                       requirement_files: tuple[str, ...] = ("requirements.txt",)) -> list[str]:
    """`docker run` building wheels for the context's requirement files into <context>/wheelhouse.

    One `pip wheel` per file, in the Dockerfile's order: the image installs them with one
    `pip install` each too, since pip's hash-checking mode holds for a whole invocation (a file
    with --hash lines beside one without would fail: pip.pypa.io/en/stable/topics/secure-installs/).
    """
    context = os.path.abspath(context_dir)
    if user is None:
        user = f"{os.getuid()}:{os.getgid()}"  # so the wheels are the caller's, not root's
    pip_wheel = f"/tmp/wheel-venv/bin/pip wheel --no-cache-dir --disable-pip-version-check --cert {CA_MOUNT}"
    script = " && ".join(["python3 -m venv /tmp/wheel-venv",
                          *(f"{pip_wheel} -r {name} -w {WHEELHOUSE_MOUNT}" for name in requirement_files)])
    return [
        "docker", "run", "--rm",
        "--user", user,
        "--env", "HOME=/tmp",  # an arbitrary uid has no home directory in the image
        "--volume", f"{context}:{CONTEXT_MOUNT}:ro",
        "--volume", f"{os.path.abspath(ca_bundle)}:{CA_MOUNT}:ro",
        "--volume", f"{context}/{WHEELHOUSE}:{WHEELHOUSE_MOUNT}",
        "--workdir", CONTEXT_MOUNT,
        base_image,
        "sh", "-c", script,
    ]


def build_command(context_dir, tag: str, base_image: str | None = None,
                  build_args: Mapping[str, str] | None = None,
                  labels: Mapping[str, str] | None = None) -> list[str]:
    args = ["docker", "build", "--tag", tag]
    if base_image:
        args += ["--build-arg", f"BASE_IMAGE={base_image}"]
    for name, value in (build_args or {}).items():
        args += ["--build-arg", f"{name}={value}"]
    for name, value in (labels or {}).items():
        args += ["--label", f"{name}={value}"]
    return args + [str(context_dir)]


def source_labels(commit: str | None) -> dict[str, str]:
    """The image's labels naming the app's commit; none when the context is not in a git repo."""
    return {REVISION_LABEL: commit} if commit else {}


def context_commit(context: Path) -> str | None:
    """HEAD of the git repository the build context is in, or None outside one (or without git)."""
    try:
        result = subprocess.run(["git", "-C", str(context), "rev-parse", "--verify", "--quiet", "HEAD"],
                                capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def dockerfile_base_image(dockerfile: Path) -> str | None:
    """The default of `ARG BASE_IMAGE=...`, which the wheels must match when no base is given."""
    match = re.search(r"^\s*ARG\s+BASE_IMAGE=(\S+)", dockerfile.read_text(), re.MULTILINE)
    return match.group(1).strip("\"'") if match else None


def check_context(context: Path) -> Path:
    """The context's Dockerfile; CommandFailed naming the path when something is missing."""
    if not context.is_dir():
        raise CommandFailed(f"app build context {context} is not a directory: pass --context with the app's directory")
    dockerfile = context / "Dockerfile"
    if not dockerfile.is_file():
        raise CommandFailed(f"no Dockerfile at {dockerfile}: the build context must hold the app's Dockerfile")
    return dockerfile


def wheelhouse_requirements(dockerfile: Path) -> tuple[str, ...]:
    """The requirement files the Dockerfile copies beside the wheelhouse (`COPY a.txt b.txt
    wheelhous[e] /wheels/`): the wheels are built from exactly those."""
    match = WHEELHOUSE_COPY.search(dockerfile.read_text())
    return tuple(match.group(1).split()) if match else ("requirements.txt",)


def fill_wheelhouse(context: Path, base_image: str, ca_bundle: str, requirement_files: tuple[str, ...]) -> None:
    for name in requirement_files:
        if not (context / name).is_file():
            raise CommandFailed(f"no {name} at {context / name}: the wheelhouse is built from it")
    wheelhouse = context / WHEELHOUSE
    shutil.rmtree(wheelhouse, ignore_errors=True)  # never mix wheels of two builds
    wheelhouse.mkdir()
    with timed(f"building wheels in {base_image} into {wheelhouse} (CA bundle {ca_bundle})"):
        run(wheelhouse_command(base_image, context, ca_bundle, requirement_files=requirement_files))


def build(context_dir, tag: str, base_image: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """Build the image (through a wheelhouse when a CA bundle is configured); return its id.
    The lists of what the image installs that `onehost init` wrote are written again first
    when the project's requirements changed since."""
    context = Path(context_dir).resolve()
    dockerfile = check_context(context)
    for name in init.refresh_requirement_lists(context, dockerfile.read_text()):
        progress(f"{name}: written again from the project's requirements, which changed since `onehost init`")
    ca_bundle = find_ca_bundle(environ)
    if ca_bundle:
        wheel_base = base_image or dockerfile_base_image(dockerfile)
        if not wheel_base:
            raise CommandFailed(f"{dockerfile} has no `ARG BASE_IMAGE=...` default: pass --base-image")
        fill_wheelhouse(context, wheel_base, ca_bundle, wheelhouse_requirements(dockerfile))
    else:
        progress(f"no CA bundle configured ({', '.join(CA_BUNDLE_VARIABLES)}): the build installs from PyPI")
        if any((context / WHEELHOUSE).glob("*.whl")):
            progress(f"note: {context / WHEELHOUSE} holds wheels from an earlier build and the image will use them;"
                     " delete it to install from PyPI")
    commit = context_commit(context)
    progress(f"app commit {commit} (label {REVISION_LABEL})" if commit
             else f"{context} is not in a git repository: the image records no app commit")
    with timed(f"building image {tag} from {context}"):
        run(build_command(context, tag, base_image, labels=source_labels(commit)))
    return docker_cli.image_id(tag)
