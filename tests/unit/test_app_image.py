"""The app image's command builders, CA detection and argument checks (no Docker needed)."""
import argparse
import subprocess

import pytest

from onehost.cli import build_app, main
from onehost.local import app_image
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT
from tests import projects

pytestmark = pytest.mark.unit


def test_wheelhouse_command():
    assert app_image.wheelhouse_command(
        "onehost-scratch/python:test", "/src/example", "/etc/ssl/certs/ca.crt", user="1000:1000"
    ) == [
        "docker", "run", "--rm",
        "--user", "1000:1000",
        "--env", "HOME=/tmp",
        "--volume", "/src/example:/context:ro",
        "--volume", "/etc/ssl/certs/ca.crt:/run/onehost-ca.pem:ro",
        "--volume", "/src/example/wheelhouse:/wheelhouse",
        "--workdir", "/context",
        "onehost-scratch/python:test",
        "sh", "-c",
        "python3 -m venv /tmp/wheel-venv && /tmp/wheel-venv/bin/pip wheel --no-cache-dir"
        " --disable-pip-version-check --cert /run/onehost-ca.pem -r requirements.txt -w /wheelhouse",
    ]


def test_wheelhouse_command_runs_as_the_caller_by_default(monkeypatch):
    monkeypatch.setattr(app_image.os, "getuid", lambda: 1234)
    monkeypatch.setattr(app_image.os, "getgid", lambda: 567)
    command = app_image.wheelhouse_command("python:3.13-slim", "/src/example", "/ca.pem")
    assert command[command.index("--user") + 1] == "1234:567"


def test_build_command_plain():
    assert app_image.build_command("/src/example", "timewarp:dev") == [
        "docker", "build", "--tag", "timewarp:dev", "/src/example",
    ]


def test_build_command_with_base_image_args_and_labels():
    assert app_image.build_command(
        "/src/example", "timewarp:v2", base_image="onehost-scratch/python:test",
        build_args={"EXTRA": "1"},
        labels={"org.opencontainers.image.version": "v2", "org.opencontainers.image.revision": "abc123"},
    ) == [
        "docker", "build", "--tag", "timewarp:v2",
        "--build-arg", "BASE_IMAGE=onehost-scratch/python:test",
        "--build-arg", "EXTRA=1",
        "--label", "org.opencontainers.image.version=v2",
        "--label", "org.opencontainers.image.revision=abc123",
        "/src/example",
    ]


@pytest.fixture
def bundles(tmp_path):
    paths = {}
    for name in ("onehost", "pip", "ssl", "requests"):
        path = tmp_path / f"{name}.pem"
        path.write_text("-----BEGIN CERTIFICATE-----\n")
        paths[name] = str(path)
    return paths


def test_ca_bundle_order(bundles):
    environ = {
        "REQUESTS_CA_BUNDLE": bundles["requests"], "SSL_CERT_FILE": bundles["ssl"],
        "PIP_CERT": bundles["pip"], "ONEHOST_CA_BUNDLE": bundles["onehost"],
    }
    assert app_image.find_ca_bundle(environ) == bundles["onehost"]
    del environ["ONEHOST_CA_BUNDLE"]
    assert app_image.find_ca_bundle(environ) == bundles["pip"]
    del environ["PIP_CERT"]
    assert app_image.find_ca_bundle(environ) == bundles["ssl"]
    del environ["SSL_CERT_FILE"]
    assert app_image.find_ca_bundle(environ) == bundles["requests"]


def test_ca_bundle_skips_paths_that_do_not_exist(bundles, tmp_path):
    environ = {"ONEHOST_CA_BUNDLE": str(tmp_path / "missing.pem"), "SSL_CERT_FILE": bundles["ssl"]}
    assert app_image.find_ca_bundle(environ) == bundles["ssl"]


def test_no_ca_bundle_means_plain_pypi(tmp_path):
    assert app_image.find_ca_bundle({}) is None
    assert app_image.find_ca_bundle({"PIP_CERT": "", "SSL_CERT_FILE": str(tmp_path / "nope")}) is None


def test_missing_context_dir_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(app_image, "run", pytest.fail)
    missing = tmp_path / "no-such-app"
    with pytest.raises(CommandFailed, match=f"{missing} is not a directory"):
        app_image.build(missing, "timewarp:dev", environ={})


def test_missing_dockerfile_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(app_image, "run", pytest.fail)
    with pytest.raises(CommandFailed, match=f"no Dockerfile at {tmp_path / 'Dockerfile'}"):
        app_image.build(tmp_path, "timewarp:dev", environ={})


def test_missing_requirements_with_a_ca_bundle(tmp_path, bundles, monkeypatch):
    monkeypatch.setattr(app_image, "run", pytest.fail)
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE=python:3.13-slim\nFROM ${BASE_IMAGE}\n")
    with pytest.raises(CommandFailed, match=f"no requirements.txt at {tmp_path / 'requirements.txt'}"):
        app_image.build(tmp_path, "timewarp:dev", environ={"PIP_CERT": bundles["pip"]})


@pytest.fixture
def recorded(monkeypatch):
    """Docker commands that build() would run, with a fake image id."""
    commands = []
    monkeypatch.setattr(app_image, "run", lambda args, **kwargs: commands.append(list(args)))
    monkeypatch.setattr(app_image.docker_cli, "image_id",
                        lambda reference: commands.append(["image_id", reference]) or "sha256:feed")
    return commands


def test_build_through_the_wheelhouse(tmp_path, bundles, recorded):
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE=python:3.13-slim\nFROM ${BASE_IMAGE}\n")
    (tmp_path / "requirements.txt").write_text("Django==5.2.19\n")
    stale = tmp_path / "wheelhouse" / "old-1.0-py3-none-any.whl"
    stale.parent.mkdir()
    stale.write_text("")

    assert app_image.build(tmp_path, "timewarp:dev", environ={"PIP_CERT": bundles["pip"]}) == "sha256:feed"

    assert not stale.exists() and stale.parent.is_dir()
    wheel, build, inspect = recorded
    assert wheel[:3] == ["docker", "run", "--rm"]
    assert "python:3.13-slim" in wheel  # the Dockerfile's default base, since none was given
    assert f"{bundles['pip']}:/run/onehost-ca.pem:ro" in wheel
    assert build == ["docker", "build", "--tag", "timewarp:dev", str(tmp_path)]
    assert inspect == ["image_id", "timewarp:dev"]


def test_build_without_a_ca_bundle_skips_the_wheelhouse(tmp_path, recorded):
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\n")
    app_image.build(tmp_path, "timewarp:dev", base_image="onehost-scratch/python:test", environ={})
    assert [command[:2] for command in recorded] == [["docker", "build"], ["image_id", "timewarp:dev"]]
    assert "BASE_IMAGE=onehost-scratch/python:test" in recorded[0]
    assert not (tmp_path / "wheelhouse").exists()


def test_cli_defaults():
    parser = argparse.ArgumentParser()
    build_app.register(parser.add_subparsers())
    args = parser.parse_args(["build-app"])
    assert (args.context, args.tag, args.base_image) == (str(REPO_ROOT / "example"), "timewarp:dev", None)
    assert args.func is build_app._main


def test_the_wheels_are_built_from_the_files_the_dockerfile_copies_beside_the_wheelhouse(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM x\n"
                          "COPY requirements-onehost.txt requirements-onehost-added.txt wheelhous[e] /wheels/\n")
    assert app_image.wheelhouse_requirements(dockerfile) == ("requirements-onehost.txt",
                                                             "requirements-onehost-added.txt")
    command = app_image.wheelhouse_command("python:3.13-slim", "/src/shop", "/ca.pem", user="0:0",
                                           requirement_files=app_image.wheelhouse_requirements(dockerfile))
    # One `pip wheel` per list, as the image installs them: pip checks hashes per invocation.
    pip_wheel = "/tmp/wheel-venv/bin/pip wheel --no-cache-dir --disable-pip-version-check --cert /run/onehost-ca.pem"
    assert command[-1] == (f"python3 -m venv /tmp/wheel-venv && {pip_wheel} -r requirements-onehost.txt -w /wheelhouse"
                           f" && {pip_wheel} -r requirements-onehost-added.txt -w /wheelhouse")
    assert app_image.wheelhouse_requirements(REPO_ROOT / "example" / "Dockerfile") == ("requirements.txt",)


def test_build_writes_the_install_list_again_when_the_projects_requirements_changed(tmp_path, recorded, capsys):
    root = projects.settings_package_project(tmp_path / "bookshop")
    assert main(["init", str(root)]) == 0
    install_list = root / "requirements-onehost.txt"
    before = install_list.read_text()
    app_image.build(root, "bookshop:v1", environ={})
    assert install_list.read_text() == before and "written again" not in capsys.readouterr().err  # unchanged
    base = root / "requirements" / "base.txt"
    base.write_text(base.read_text() + "djangorestframework==3.18.3\n")
    app_image.build(root, "bookshop:v2", environ={})
    assert install_list.read_text() == before.replace("asgiref==3.13.0\n",
                                                      "asgiref==3.13.0\ndjangorestframework==3.18.3\n")
    assert ("==> requirements-onehost.txt: written again from the project's requirements, which changed since "
            "`onehost init`") in capsys.readouterr().err
    assert [command[:2] for command in recorded if command[0] == "docker"] == [["docker", "build"]] * 2


def test_build_refuses_when_the_dockerfile_lacks_a_file_the_requirements_now_need(tmp_path, recorded):
    root = projects.settings_package_project(tmp_path / "bookshop")
    assert main(["init", str(root)]) == 0
    (root / "requirements" / "base.txt").write_text("-c pins.txt\nDjango==5.2.19\n")
    (root / "requirements" / "pins.txt").write_text("asgiref==3.13.0\n")
    with pytest.raises(CommandFailed, match=r"the project's requirements now need requirements/pins\.txt in the "
                                            r"image, and the Dockerfile does not copy it: run `onehost init --force`"):
        app_image.build(root, "bookshop:v2", environ={})
    assert recorded == []


def _git_repo(path):
    """A git repository with one commit; its HEAD."""
    def git(*args):
        return subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com",
                               *args], check=True, capture_output=True, text=True).stdout.strip()
    git("init", "--quiet")
    git("add", "--all")
    git("commit", "--quiet", "--message", "app")
    return git("rev-parse", "HEAD")


def test_build_labels_the_image_with_the_apps_git_commit(tmp_path, recorded):
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\n")
    head = _git_repo(tmp_path)
    app_image.build(tmp_path, "shop:v1", environ={})
    assert recorded[0] == ["docker", "build", "--tag", "shop:v1",
                           "--label", f"org.opencontainers.image.revision={head}", str(tmp_path)]


def test_build_outside_a_git_repository_sets_no_revision_label(tmp_path, recorded, monkeypatch):
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\n")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    app_image.build(tmp_path, "shop:v1", environ={})
    assert recorded[0] == ["docker", "build", "--tag", "shop:v1", str(tmp_path)]
