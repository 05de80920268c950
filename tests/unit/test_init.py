"""`onehost init` on projects made by django-admin, in the layouts projects use."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from onehost.cli import main
from onehost.local import init
from tests.tools import installed_tool

pytestmark = pytest.mark.unit

DJANGO_ADMIN = str(Path(sys.executable).with_name("django-admin"))


def startproject(where: Path, name: str = "shop") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run([DJANGO_ADMIN, "startproject", name, str(where)], check=True, timeout=60)
    (where / "requirements.txt").write_text("Django==5.2.19\n")
    return where


def split_settings(root: Path) -> Path:
    """The cookiecutter-django shape: config/settings/{base,development}.py, manage.py on development."""
    startproject(root, "config")
    package = root / "config" / "settings"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (root / "config" / "settings.py").rename(package / "base.py")
    base = package / "base.py"
    base.write_text(base.read_text().replace("Path(__file__).resolve().parent.parent",
                                             "Path(__file__).resolve().parent.parent.parent"))
    (package / "development.py").write_text("from .base import *  # noqa\nDEBUG = True\n")
    manage = root / "manage.py"
    manage.write_text(manage.read_text().replace("'config.settings'", "'config.settings.development'"))
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_a_startproject_layout_gets_settings_production_beside_settings(tmp_path):
    project = init.inspect_project(startproject(tmp_path / "shop"))
    assert (project.manage_settings, project.base_settings, project.production_settings) == (
        "shop.settings", "shop.settings", "shop.settings_production")
    assert project.production_path == tmp_path / "shop" / "shop" / "settings_production.py"
    assert project.wsgi_module == "shop.wsgi"
    assert project.requirements == init.Requirements("requirements", "requirements.txt",
                                                     ("requirements.txt", "requirements-onehost.txt"))


def test_a_settings_package_gets_production_beside_base(tmp_path):
    project = init.inspect_project(split_settings(tmp_path / "site"))
    assert (project.manage_settings, project.base_settings, project.production_settings) == (
        "config.settings.development", "config.settings.base", "config.settings.production")
    assert project.production_path == tmp_path / "site" / "config" / "settings" / "production.py"
    assert project.wsgi_module == "config.wsgi"  # from WSGI_APPLICATION = "config.wsgi.application"


def test_a_production_module_of_the_projects_own_is_built_on_not_replaced(tmp_path):
    root = split_settings(tmp_path / "site")
    production = root / "config" / "settings" / "production.py"
    production.write_text("from .base import *  # noqa\nDEBUG = False\n")
    project = init.inspect_project(root)
    assert (project.base_settings, project.production_settings) == ("config.settings.production",
                                                                    "config.settings.onehost")
    assert project.production_path == root / "config" / "settings" / "onehost.py"
    before = production.read_bytes()
    assert main(["init", str(root)]) == 0
    assert production.read_bytes() == before
    assert "from config.settings.production import *" in project.production_path.read_text()


@pytest.mark.parametrize("files, kind, source", [
    ({"pyproject.toml": '[project]\nname = "shop"\nversion = "1"\n'}, "pyproject", "pyproject.toml"),
    ({"Pipfile": "[packages]\n", "Pipfile.lock": "{}"}, "pipfile", "Pipfile"),
    ({"requirements/production.txt": "Django\n"}, "requirements", "requirements/production.txt"),
])
def test_requirements_are_found_where_the_project_declares_them(tmp_path, files, kind, source):
    root = startproject(tmp_path / "shop")
    (root / "requirements.txt").unlink()
    for name, text in files.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text)
    requirements = init.inspect_project(root).requirements
    assert (requirements.kind, requirements.source) == (kind, source)
    dockerfile = init.planned_files(init.inspect_project(root), "shop", ["api.example.com"], "shop", "none")[
        root / "Dockerfile"]
    expected = {"pyproject": "/opt/venv/bin/pip install --no-cache-dir . -r requirements-onehost.txt",
                "pipfile": "pipenv requirements > requirements.txt",
                "requirements": "-r /wheels/production.txt -r /wheels/requirements-onehost.txt"}[kind]
    assert expected in dockerfile


@pytest.mark.parametrize("change, message", [
    (lambda root: (root / "manage.py").unlink(), "no manage.py in"),
    (lambda root: (root / "requirements.txt").unlink(), "no requirements found"),
    (lambda root: ((root / "requirements.txt").unlink(), (root / "pyproject.toml").write_text("[tool.poetry]\n")),
     "pyproject.toml has no [project] table"),
    (lambda root: ((root / "requirements.txt").unlink(), (root / "Pipfile").write_text("")),
     "Pipfile has no Pipfile.lock: run `pipenv lock`"),
    (lambda root: (root / "shop" / "wsgi.py").unlink(), "no WSGI module found"),
    (lambda root: (root / "shop" / "settings.py").unlink(), "names the settings module shop.settings, which is not in"),
])
def test_what_cannot_be_found_is_named_with_the_fix(tmp_path, change, message):
    root = startproject(tmp_path / "shop")
    change(root)
    with pytest.raises(init.InitError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        init.inspect_project(root)


def test_init_writes_only_new_files_and_says_what_it_found(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    before = snapshot(root)
    assert main(["init", str(root), "--domain", "shop.example.com"]) == 0
    printed = capsys.readouterr().out
    assert "found settings: shop.settings (from manage.py)" in printed
    assert "found WSGI: shop.wsgi" in printed and "found requirements: requirements.txt" in printed
    after = snapshot(root)
    assert {name: after[name] for name in before} == before  # nothing of the project changed
    assert sorted(set(after) - set(before)) == sorted([
        ".dockerignore", "Dockerfile", "compose.dev.yaml", "gunicorn.conf.py", "onehost.toml",
        "requirements-onehost.txt", "shop/onehost/__init__.py", "shop/onehost/env.py", "shop/onehost/health.py",
        "shop/onehost/logs.py",
        "shop/settings_production.py"])
    assert 'server_names = ["shop.example.com"]' in after["onehost.toml"].decode()
    assert "next, from the onehost checkout:" in printed and "--data tag=v1" in printed


def test_an_existing_dockerfile_is_refused_and_nothing_is_written(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    (root / "Dockerfile").write_text("FROM scratch\n")
    before = snapshot(root)
    assert main(["init", str(root)]) == 1
    assert f"these files exist and would be overwritten: {root / 'Dockerfile'}" in capsys.readouterr().err
    assert snapshot(root) == before
    assert main(["init", str(root), "--force"]) == 0
    assert "ARG BASE_IMAGE=python:3.13-slim" in (root / "Dockerfile").read_text()


def test_init_run_again_targets_its_own_production_settings(tmp_path):
    root = split_settings(tmp_path / "site")
    assert main(["init", str(root)]) == 0
    assert init.inspect_project(root).production_settings == "config.settings.production"
    assert main(["init", str(root), "--force"]) == 0
    assert not (root / "config" / "settings" / "onehost.py").exists()


def test_dry_prints_the_files_and_writes_nothing(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    before = snapshot(root)
    assert main(["init", str(root), "--dry"]) == 0
    printed = capsys.readouterr().out
    assert snapshot(root) == before
    assert "--- would create Dockerfile" in printed and "--- would create shop/settings_production.py" in printed
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "shop.wsgi"]' in printed


def test_a_bad_app_name_is_refused_before_anything_is_written(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    before = snapshot(root)
    assert main(["init", str(root), "--app-name", "Shop App"]) == 1
    assert "app name 'Shop App': use lowercase letters" in capsys.readouterr().err
    assert snapshot(root) == before


@pytest.mark.parametrize("layout", [startproject, split_settings])
def test_the_production_settings_pass_djangos_deployment_checks(tmp_path, layout):
    root = layout(tmp_path / "project")
    project = init.inspect_project(root)  # before init: afterwards the project has production settings
    assert main(["init", str(root)]) == 0
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": project.production_settings,
               "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "api.example.com", "DATABASE_URL": "postgres://u:p@db:5432/n"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=root, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # Without the secret the settings fail loudly, with the fix.
    del environ["SECRET_KEY"]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


def test_the_dockerfile_passes_hadolint(tmp_path):
    root = startproject(tmp_path / "shop")
    files = init.planned_files(init.inspect_project(root), "shop", ["api.example.com"], "shop", "none")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(files[root / "Dockerfile"])
    result = subprocess.run([installed_tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_requirements_are_the_examples_pins():
    assert init.deploy_pins() == ["dj-database-url==3.1.2", "psycopg[binary]==3.3.9", "psycopg-binary==3.3.9",
                                  "gunicorn==27.0.1"]


@pytest.mark.parametrize("option, message", [
    (["--registry", "https://registry.example.com"], "registry 'https://registry.example.com' must be"),
    (["--image", "shop:v1"], "image 'shop:v1' must be a repository name without a tag"),
])
def test_settings_the_inventory_would_refuse_are_refused_before_anything_is_written(tmp_path, capsys, option, message):
    root = startproject(tmp_path / "shop")
    before = snapshot(root)
    assert main(["init", str(root), *option]) == 1
    assert message in capsys.readouterr().err
    assert snapshot(root) == before
