"""`onehost init` on projects made by django-admin, in the layouts projects use."""

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from onehost.cli import main
from onehost.local import init
from tests import projects
from tests.moto_server import free_port
from tests.projects import startproject
from tests.tools import installed_tool

pytestmark = pytest.mark.unit

DEPLOY_ENVIRONMENT = {"SECRET_KEY": "unit-test-secret-key-" + "x" * 40, "ALLOWED_HOSTS": "api.example.com",
                      "DATABASE_URL": "postgres://shop:pw@postgres:5432/shop"}


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


def plan(root: Path) -> dict[str, str]:
    """The files init would write, by path from the project root."""
    files = init.planned_files(init.inspect_project(root), "shop", ["api.example.com"], "shop", "none")
    return {str(path.relative_to(root.resolve())): text for path, text in files.items()}


def settings_in(root: Path, module: str, code: str, environ: dict | None = None) -> dict:
    """What `code` (printing JSON) prints with the project's settings `module` loaded."""
    environment = {**os.environ, **DEPLOY_ENVIRONMENT, **(environ or {}), "DJANGO_SETTINGS_MODULE": module}
    script = f"import json, django\ndjango.setup()\nfrom django.conf import settings\n{code}"
    result = subprocess.run([sys.executable, "-c", script], cwd=root, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- settings

def test_a_startproject_layout_gets_settings_production_beside_settings(tmp_path):
    project = init.inspect_project(startproject(tmp_path / "shop"))
    assert (project.manage_settings, project.base_settings, project.production_settings) == (
        "shop.settings", "shop.settings", "shop.settings_production")
    assert project.production_path == tmp_path / "shop" / "shop" / "settings_production.py"
    assert project.wsgi_module == "shop.wsgi"
    assert project.requirements.files == ("requirements-onehost.txt",)


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


def test_a_settings_package_of_any_name_is_found_from_wsgi_py(tmp_path):
    """config/django/{base,production,test}.py: manage.py names base, wsgi.py production."""
    root = projects.settings_package_project(tmp_path / "bookshop")
    project = init.inspect_project(root)
    assert project.named_settings == (("manage.py", "config.django.base"),
                                      ("config/wsgi.py", "config.django.production"),
                                      ("config/asgi.py", "config.django.production"))
    assert (project.base_settings, project.target.why, project.production_settings) == (
        "config.django.production", "named by config/wsgi.py", "config.django.onehost")
    assert project.production_path == root / "config" / "django" / "onehost.py"


def test_the_settings_packages_own_production_module_counts_without_wsgi_naming_it(tmp_path):
    root = projects.settings_package_project(tmp_path / "bookshop")
    projects.set_default_settings(root / "config" / "wsgi.py", "config.django.base")
    projects.set_default_settings(root / "config" / "asgi.py", "config.django.base")
    project = init.inspect_project(root)
    assert (project.base_settings, project.target.why, project.production_settings) == (
        "config.django.production", "the settings package's own production module", "config.django.onehost")


def test_init_says_which_module_the_deploy_runs_and_what_it_overrides(tmp_path, capsys):
    root = projects.settings_package_project(tmp_path / "bookshop")
    assert main(["init", str(root), "--app-name", "bookshop"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:9] == [
        "found settings: manage.py uses config.django.base; config/wsgi.py uses config.django.production; "
        "config/asgi.py uses config.django.production",
        "found WSGI: config.wsgi",
        "found requirements: requirements.txt, and what it includes: requirements/production.txt, "
        "requirements/base.txt, requirements/constraints.txt",
        "found Python: 3.13 (.python-version); the image has 3.13",
        "the deploy runs config.django.onehost (DJANGO_SETTINGS_MODULE in the image), on top of "
        "config.django.production (named by config/wsgi.py)",
        "config.django.onehost replaces the project's ALLOWED_HOSTS, DEBUG, SECRET_KEY, SECURE_SSL_REDIRECT, "
        "SESSION_COOKIE_SECURE, STATIC_URL (why: its docstring and comments)",
        'config.django.onehost takes DATABASES["default"]\'s connection (ENGINE, NAME, USER, PASSWORD, HOST, '
        "PORT) from DATABASE_URL or the DB_* variables; the project's ATOMIC_REQUESTS, CONN_MAX_AGE stay",
        "config.django.onehost puts onehost's request log and /health/ in front of the project's MIDDLEWARE",
        "requirements: psycopg2==2.9.10 (requirements/production.txt:4) builds from source, which needs a "
        "compiler and libpq's headers the image has not: the image installs psycopg2-binary==2.9.10 instead "
        "(the same driver, as a wheel)",
    ]


def test_the_deploy_settings_keep_the_projects_production_settings_and_database_options(tmp_path):
    root = projects.settings_package_project(tmp_path / "bookshop")
    assert main(["init", str(root), "--app-name", "bookshop"]) == 0
    found = settings_in(root, "config.django.onehost", "print(json.dumps({"
                        "'cors': settings.CORS_ALLOWED_ORIGINS, 'credentials': settings.CORS_ALLOW_CREDENTIALS,"
                        "'database': settings.DATABASES['default'], 'debug': settings.DEBUG}, default=str))")
    database = found["database"]
    assert (found["cors"], found["credentials"], found["debug"]) == (["https://app.bookshop.example"], True, False)
    # The connection is the deploy's; how the project uses it stays.
    assert {key: database[key] for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")} == {
        "ENGINE": "django.db.backends.postgresql", "NAME": "shop", "USER": "shop", "PASSWORD": "pw",
        "HOST": "postgres", "PORT": 5432}
    assert (database["ATOMIC_REQUESTS"], database["CONN_MAX_AGE"], database["OPTIONS"]) == (
        True, 120, {"connect_timeout": 3})


@pytest.mark.parametrize("layout", [startproject, split_settings, projects.settings_package_project])
def test_the_production_settings_pass_djangos_deployment_checks(tmp_path, layout):
    root = layout(tmp_path / "project")
    project = init.inspect_project(root)  # before init: afterwards the project has production settings
    assert main(["init", str(root)]) == 0
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": project.production_settings,
               "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "api.example.com",
               "DATABASE_URL": "postgres://u:p@db:5432/n"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=root, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # Without the secret the settings fail loudly, with the fix.
    del environ["SECRET_KEY"]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


# --------------------------------------------------------------------------- requirements

HEADER = ("# What the app image installs: written by `onehost init` from {sources}.\n"
          "# `onehost build-app` writes it again when those change: edit them, not this file.\n")
ADDED_HEADER = ("# What the deploy adds, installed after requirements-onehost.txt (pip checks hashes per install): "
                "written by `onehost init` from {sources}.\n"
                "# `onehost build-app` writes it again when those change: edit them, not this file.\n")


def test_nested_requirements_are_read_as_pip_reads_them_and_the_projects_pins_kept(tmp_path):
    root = projects.settings_package_project(tmp_path / "bookshop")
    files = plan(root)
    assert files["requirements-onehost.txt"] == HEADER.format(
        sources="requirements.txt, requirements/production.txt, requirements/base.txt, "
                "requirements/constraints.txt") + (
        "-c requirements/constraints.txt\n"
        "Django==5.2.19\n"
        "asgiref==3.13.0\n"
        "gunicorn==23.0.0\n"            # the project's own gunicorn: none added beside it
        "psycopg2-binary==2.9.10\n"     # its psycopg2, as a wheel
        "dj-database-url==3.1.2\n")
    assert "requirements-onehost-added.txt" not in files and "gunicorn.conf.py" not in files
    # The build gets the constraint file at the path the list names it by.
    assert "COPY requirements-onehost.txt wheelhous[e] /wheels/\nCOPY requirements/constraints.txt " \
           "/wheels/requirements/\n" in files["Dockerfile"]


@pytest.mark.parametrize("requirements, constraints, message", [
    ("Django==4.1.13\n", "",
     "the deploy adds dj-database-url==3.1.2, which needs django>=4.2, and requirements/base.txt:1 pins "
     "Django==4.1.13: raise the project's django, or list a dj-database-url that supports it in the project's "
     "requirements (init then uses the project's)"),
    ("Django==5.2.19\ndj-database-url==0.5.0\n", "",
     "requirements/base.txt:2 pins dj-database-url==0.5.0, and the settings `onehost init` writes need "
     "dj-database-url>=1.2 (dj_database_url.parse with conn_health_checks): raise the project's pin to "
     "dj-database-url>=1.2"),
    ("Django==5.2.19\n", "Django==5.1.4\n",
     "requirements/base.txt:1 pins Django==5.2.19 and requirements/constraints.txt:1 pins Django==5.1.4: pip "
     "cannot install both; keep one version"),
])
def test_a_conflict_with_the_projects_pins_is_reported_by_init_naming_both(tmp_path, capsys, requirements,
                                                                          constraints, message):
    root = projects.settings_package_project(tmp_path / "bookshop")
    (root / "requirements" / "base.txt").write_text(requirements)
    (root / "requirements" / "constraints.txt").write_text(constraints)
    before = snapshot(root)
    assert main(["init", str(root)]) == 1
    assert capsys.readouterr().err == f"error: {message} (nothing was written)\n"
    assert snapshot(root) == before


def test_a_version_the_project_constrains_is_the_one_added(tmp_path):
    root = startproject(tmp_path / "shop", requirements="-c constraints.txt\nDjango==5.2.19\n")
    (root / "constraints.txt").write_text("gunicorn==22.0.0\npsycopg==3.2.9\n")
    lines = plan(root)["requirements-onehost.txt"].splitlines()[2:]
    assert lines == ["-c constraints.txt", "Django==5.2.19", "dj-database-url==3.1.2", "psycopg[binary]==3.2.9",
                     "gunicorn==22.0.0"]


def test_the_projects_own_psycopg_gets_its_binary_extra_at_its_version(tmp_path):
    root = startproject(tmp_path / "shop", requirements="Django==5.2.19\npsycopg>=3.2,<3.3\n")
    lines = plan(root)["requirements-onehost.txt"].splitlines()[2:]
    assert lines == ["Django==5.2.19", "psycopg>=3.2,<3.3", "dj-database-url==3.1.2", "psycopg[binary]<3.3,>=3.2",
                     "gunicorn==27.0.1"]


def test_a_pyproject_project_installs_its_dependencies_through_the_same_list(tmp_path):
    root = startproject(tmp_path / "shop", requirements=None)
    (root / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "1"\n'
                                         'dependencies = ["Django>=5.2,<6", "djangorestframework"]\n')
    files = plan(root)
    assert files["requirements-onehost.txt"] == HEADER.format(sources="pyproject.toml") + (
        "Django>=5.2,<6\ndjangorestframework\ndj-database-url==3.1.2\npsycopg[binary]==3.3.9\ngunicorn==27.0.1\n")
    assert "pip install --no-cache-dir . " not in files["Dockerfile"]  # no build of the project itself
    assert '&& /opt/venv/bin/pip install --no-cache-dir "$@" -r /wheels/requirements-onehost.txt\n' in \
        files["Dockerfile"]


def test_a_uv_lock_is_installed_at_its_versions_with_its_hashes(tmp_path):
    root = projects.uv_project(tmp_path / "bookshop")
    files = plan(root)
    hashes = {name: sha256 for name, (_, _, sha256) in projects.WHEELS.items()}
    assert files["requirements-onehost.txt"] == HEADER.format(sources="uv.lock") + (
        f"asgiref==3.13.0 \\\n    --hash=sha256:{hashes['asgiref']}\n"
        f"django==5.2.19 \\\n    --hash=sha256:{hashes['django']}\n"
        f"sqlparse==0.6.1 \\\n    --hash=sha256:{hashes['sqlparse']}\n"
        f"tzdata==2025.2 ; sys_platform == 'win32' \\\n    --hash=sha256:{'1' * 64}\n")  # pytest: dev only
    # pip's hash checking holds for a whole install: what the deploy adds comes in a second one.
    assert files["requirements-onehost-added.txt"] == ADDED_HEADER.format(sources="uv.lock") + (
        "dj-database-url==3.1.2\npsycopg[binary]==3.3.9\ngunicorn==27.0.1\n")
    assert ('    && /opt/venv/bin/pip install --no-cache-dir "$@" -r /wheels/requirements-onehost.txt \\\n'
            '    && /opt/venv/bin/pip install --no-cache-dir "$@" -r /wheels/requirements-onehost-added.txt\n'
            ) in files["Dockerfile"]


def test_a_pipfile_lock_is_installed_at_its_versions_with_its_hashes(tmp_path):
    root = projects.pipfile_project(tmp_path / "bookshop")
    files = plan(root)
    hashes = {name: sha256 for name, (_, _, sha256) in projects.WHEELS.items()}
    assert files["requirements-onehost.txt"] == HEADER.format(sources="Pipfile.lock") + (
        f"asgiref==3.13.0 ; python_version >= '3.9' \\\n    --hash=sha256:{hashes['asgiref']}\n"
        f"django==5.2.19 ; python_version >= '3.10' \\\n    --hash=sha256:{hashes['django']}\n"
        f"psycopg[binary]==3.3.9 ; python_version >= '3.10' \\\n    --hash=sha256:{hashes['psycopg']}\n"
        f"psycopg-binary==3.3.9 ; implementation_name != 'pypy' \\\n    --hash=sha256:{hashes['psycopg-binary']}\n"
        f"sqlparse==0.6.1 ; python_version >= '3.8' \\\n    --hash=sha256:{hashes['sqlparse']}\n")
    # Its own psycopg[binary] is the driver: only what it lacks is added.
    assert files["requirements-onehost-added.txt"] == ADDED_HEADER.format(sources="Pipfile.lock") + (
        "dj-database-url==3.1.2\ngunicorn==27.0.1\n")
    assert "pipenv" not in files["Dockerfile"]


@pytest.mark.parametrize("change, message", [
    (lambda root: (root / "manage.py").unlink(), "no manage.py in"),
    (lambda root: (root / "requirements.txt").unlink(), "no requirements found"),
    (lambda root: ((root / "requirements.txt").unlink(), (root / "pyproject.toml").write_text("[tool.poetry]\n")),
     "pyproject.toml has no [project] table"),
    (lambda root: ((root / "requirements.txt").unlink(), (root / "Pipfile").write_text("")),
     "Pipfile has no Pipfile.lock: run `pipenv lock`"),
    (lambda root: (root / "shop" / "wsgi.py").unlink(), "no WSGI module found"),
    (lambda root: (root / "shop" / "settings.py").unlink(), "names the settings module shop.settings, which is not in"),
    (lambda root: (root / "requirements.txt").write_text("-r ../shared/base.txt\n"),
     "requirements.txt:1 includes ../shared/base.txt, outside the project"),
    (lambda root: (root / "requirements.txt").write_text("-r requirements/base.txt\n"),
     "requirements.txt:1 names requirements/base.txt, which does not exist"),
])
def test_what_cannot_be_found_is_named_with_the_fix(tmp_path, change, message):
    root = startproject(tmp_path / "shop")
    change(root)
    with pytest.raises(init.InitError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        init.inspect_project(root)


# --------------------------------------------------------------------------- Python version

@pytest.mark.parametrize("files, warned", [
    ({".python-version": "3.12\n"}, "Python 3.12 (.python-version)"),
    ({"runtime.txt": "python-3.11.9\n"}, "Python python-3.11.9 (runtime.txt)"),
    ({"pyproject.toml": '[project]\nname = "shop"\nversion = "1"\nrequires-python = ">=3.10,<3.13"\n'},
     "Python >=3.10,<3.13 (pyproject.toml requires-python)"),
    ({".python-version": "3.13.5\n"}, None),
    ({"runtime.txt": "python-3.13.1\n"}, None),
    ({"pyproject.toml": '[project]\nname = "shop"\nversion = "1"\nrequires-python = ">=3.11"\n'}, None),
])
def test_a_python_version_the_image_does_not_match_is_warned_naming_both(tmp_path, capsys, files, warned):
    root = startproject(tmp_path / "shop")
    projects.write(root, files)
    assert main(["init", str(root), "--dry"]) == 0
    err = capsys.readouterr().err
    if warned is None:
        assert "warning" not in err
    else:
        assert err == (f"warning: the project asks for {warned}, and the image runs Python 3.13 (python:3.13-slim; "
                       "onehost's local stand-in is Debian's python3 3.13): run the project's tests on 3.13, or "
                       "build on another base image (ARG BASE_IMAGE in the Dockerfile, or `onehost build-app "
                       "--base-image`)\n")


# --------------------------------------------------------------------------- what init writes

def test_init_writes_only_new_files_and_says_what_it_found(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    before = snapshot(root)
    assert main(["init", str(root), "--domain", "shop.example.com"]) == 0
    printed = capsys.readouterr().out
    assert "found settings: manage.py uses shop.settings; shop/wsgi.py uses shop.settings; " \
           "shop/asgi.py uses shop.settings" in printed
    assert "found WSGI: shop.wsgi" in printed and "found requirements: requirements.txt" in printed
    after = snapshot(root)
    assert {name: after[name] for name in before} == before  # nothing of the project changed
    assert sorted(set(after) - set(before)) == sorted([
        ".dockerignore", "Dockerfile", "compose.dev.yaml", "gunicorn.conf.py", "onehost.toml",
        "requirements-onehost.txt", "shop/onehost/__init__.py", "shop/onehost/databases.py", "shop/onehost/env.py",
        "shop/onehost/health.py", "shop/onehost/logs.py", "shop/settings_production.py"])
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


def test_dry_refuses_exactly_as_the_real_run_would(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    (root / "Dockerfile").write_text("FROM scratch\n")
    before = snapshot(root)
    assert main(["init", str(root), "--dry"]) == 1
    dry = capsys.readouterr()
    assert main(["init", str(root)]) == 1
    real = capsys.readouterr()
    refusal = (f"error: these files exist and would be overwritten: {root / 'Dockerfile'} (nothing was written; "
               "move them aside, or pass --force to replace them)")
    assert real.err == refusal + "\n"
    assert dry.err == refusal + " (--dry: the real run would stop here)\n"
    assert "--- would" not in dry.out and dry.out == real.out
    assert snapshot(root) == before
    # With --force, --dry shows the replacement and still writes nothing.
    assert main(["init", str(root), "--dry", "--force"]) == 0
    assert "--- would replace Dockerfile" in capsys.readouterr().out
    assert snapshot(root) == before


def test_init_run_again_targets_its_own_production_settings(tmp_path):
    root = split_settings(tmp_path / "site")
    assert main(["init", str(root)]) == 0
    assert init.inspect_project(root).production_settings == "config.settings.production"
    assert main(["init", str(root), "--force"]) == 0
    assert not (root / "config" / "settings" / "onehost.py").exists()


def test_init_run_again_keeps_using_the_gunicorn_conf_it_wrote(tmp_path):
    root = startproject(tmp_path / "shop")
    assert main(["init", str(root)]) == 0
    assert main(["init", str(root), "--force"]) == 0
    assert not (root / "gunicorn.onehost.conf.py").exists()
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "shop.wsgi"]' in (root / "Dockerfile").read_text()


def test_a_settings_module_wsgi_py_names_but_the_project_lacks_is_left_aside(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    projects.set_default_settings(root / "shop" / "wsgi.py", "shop.settings_prod")
    assert main(["init", str(root), "--dry"]) == 0
    printed = capsys.readouterr().out
    assert "shop/wsgi.py names the settings module shop.settings_prod, which is not in the project: left aside" \
        in printed
    assert "the deploy runs shop.settings_production (DJANGO_SETTINGS_MODULE in the image), on top of " \
           "shop.settings (manage.py's)" in printed


def test_dry_prints_the_files_and_writes_nothing(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    before = snapshot(root)
    assert main(["init", str(root), "--dry"]) == 0
    printed = capsys.readouterr().out
    assert snapshot(root) == before
    assert "--- would create Dockerfile" in printed and "--- would create shop/settings_production.py" in printed
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "shop.wsgi"]' in printed


def test_the_projects_gunicorn_conf_is_kept_and_used(tmp_path, capsys):
    root = projects.settings_package_project(tmp_path / "bookshop")
    own = (root / "gunicorn.conf.py").read_bytes()
    assert main(["init", str(root)]) == 0
    assert "gunicorn: the project's gunicorn.conf.py is kept; the image runs gunicorn with gunicorn.onehost.conf.py" \
        in capsys.readouterr().out
    assert (root / "gunicorn.conf.py").read_bytes() == own
    assert 'CMD ["gunicorn", "--config", "gunicorn.onehost.conf.py", "config.wsgi"]' in \
        (root / "Dockerfile").read_text()
    # gunicorn itself, reading the config the image's CMD names: the project's settings, the deploy's bind.
    result = subprocess.run([installed_tool("gunicorn"), "--config", "gunicorn.onehost.conf.py", "--print-config",
                             "config.wsgi"], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    settings = {name.strip(): value.strip() for name, _, value in
                (line.partition(" = ") for line in result.stdout.splitlines()) if value}
    assert {name: settings[name] for name in ("bind", "workers", "proc_name", "worker_tmp_dir",
                                                      "control_socket_disable")} == {
        "bind": "['0.0.0.0:8000']", "workers": "3", "proc_name": "bookshop-web", "worker_tmp_dir": "/dev/shm",
        "control_socket_disable": "True"}


def test_a_bad_app_name_is_refused_before_anything_is_written(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    before = snapshot(root)
    assert main(["init", str(root), "--app-name", "Shop App"]) == 1
    assert "app name 'Shop App': use lowercase letters" in capsys.readouterr().err
    assert snapshot(root) == before


@pytest.mark.parametrize("layout", [startproject, projects.settings_package_project, projects.uv_project,
                                    projects.pipfile_project])
def test_the_dockerfile_passes_hadolint(tmp_path, layout):
    root = layout(tmp_path / "project")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(plan(root)["Dockerfile"])
    result = subprocess.run([installed_tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_requirements_are_the_examples_pins():
    assert init.deploy_pins() == ["dj-database-url==3.1.2", "psycopg[binary]==3.3.9", "gunicorn==27.0.1"]


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


# --------------------------------------------------------------------------- request logging
ACCESS_LOG_MIDDLEWARE = '''import logging

logger = logging.getLogger("shop.access")


class AccessLogMiddleware:
    """The project's own line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        logger.info("%s %s %s", request.method, request.path, response.status_code)
        return response
'''
PING_VIEW = '''
from django.http import HttpResponse  # noqa: E402

urlpatterns.append(path("ping/", lambda request: HttpResponse("pong")))
'''


def project_with_its_own_request_log(root: Path) -> Path:
    startproject(root)
    (root / "shop" / "middleware.py").write_text(ACCESS_LOG_MIDDLEWARE)
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text() + '\nMIDDLEWARE.insert(0, "shop.middleware.AccessLogMiddleware")\n')
    urls = root / "shop" / "urls.py"
    urls.write_text(urls.read_text() + PING_VIEW)
    return root


def log_lines_of_one_request(root: Path, module: str, path: str) -> list[dict]:
    """The JSON lines the app writes on stdout while Django answers one request (as behind nginx)."""
    script = ("import django\ndjango.setup()\nfrom django.test import Client\n"
              f"response = Client().get({path!r}, HTTP_HOST='api.example.com', HTTP_X_REQUEST_ID='a1b2c3')\n"
              "assert response.status_code == 200, response.status_code")
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **DEPLOY_ENVIRONMENT, "DJANGO_SETTINGS_MODULE": module})
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_a_project_that_logs_each_request_itself_gets_one_line_per_request(tmp_path, capsys):
    root = project_with_its_own_request_log(tmp_path / "shop")
    decision = ("shop.settings_production puts only /health/ in front of the project's MIDDLEWARE: the project "
                "logs each request itself (shop.middleware.AccessLogMiddleware (in shop.settings)), so onehost's "
                "request log is left out (one line per request); the project's LOGGING stays. nginx sends its "
                "request id as X-Request-ID: make shop.middleware.AccessLogMiddleware read it to log the same id")
    assert main(["init", str(root), "--dry"]) == 0
    assert decision in capsys.readouterr().out.splitlines()
    assert main(["init", str(root)]) == 0
    assert decision in capsys.readouterr().out.splitlines()

    lines = log_lines_of_one_request(root, "shop.settings_production", "/ping/")

    assert [(line["logger"], line["message"]) for line in lines] == [("shop.access", "GET /ping/ 200")]


def test_django_structlog_and_django_guid_get_nginxs_request_id_and_no_second_request_log(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text() + (
        '\nMIDDLEWARE = ["django_guid.middleware.guid_middleware", *MIDDLEWARE,'
        ' "django_structlog.middlewares.RequestMiddleware"]\nDJANGO_GUID = {"RETURN_HEADER": False}\n'))
    assert main(["init", str(root), "--dry"]) == 0
    assert ("nginx sends its request id as X-Request-ID: django-structlog reads it itself; shop.settings_production "
            "points django-guid (through DJANGO_GUID) at it") in capsys.readouterr().out
    assert main(["init", str(root)]) == 0

    loaded = settings_in(root, "shop.settings_production",
                         "print(json.dumps([settings.MIDDLEWARE, settings.DJANGO_GUID]))")

    middleware, guid = loaded
    assert middleware[:2] == ["shop.onehost.health.HealthCheckMiddleware", "django_guid.middleware.guid_middleware"]
    assert "shop.onehost.logs.RequestLogMiddleware" not in middleware
    assert guid == {"GUID_HEADER_NAME": "X-Request-ID", "RETURN_HEADER": False}


WSGI_APP = '''def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


@pytest.mark.parametrize("own_config", [
    'accesslog = "-"\naccess_log_format = "ACCESS %(r)s"\n',
    'access_log_format = "ACCESS %(r)s"\nlogconfig_dict = {"version": 1, "disable_existing_loggers": False}\n',
], ids=["accesslog", "logconfig_dict"])
def test_gunicorn_writes_no_access_line_of_its_own_with_the_projects_config(tmp_path, own_config):
    """gunicorn run with the wrapper init writes, serving one request: no access line (the app logs it)."""
    (tmp_path / "gunicorn.conf.py").write_text(own_config)
    (tmp_path / "gunicorn.onehost.conf.py").write_text((init.TEMPLATES / init.GUNICORN_WRAPPER).read_text())
    (tmp_path / "wsgi_app.py").write_text(WSGI_APP)
    port = free_port()
    server = subprocess.Popen([installed_tool("gunicorn"), "--config", "gunicorn.onehost.conf.py", "--bind",
                               f"127.0.0.1:{port}", "--workers", "1", "wsgi_app:app"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/served", timeout=2) as response:
                    assert response.read() == b"ok"
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.1)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Booting worker" in output
    assert "GET /served" not in output


def test_the_hosts_broker_url_wins_over_the_projects_and_nothing_changes_without_one(tmp_path):
    """Celery reads CELERY_BROKER_URL from the Django settings (its CELERY namespace), not from
    the environment: a project that names localhost there would queue into nothing on the host."""
    root = startproject(tmp_path / "shop")
    settings_file = root / "shop" / "settings.py"
    settings_file.write_text(settings_file.read_text() + '\nCELERY_BROKER_URL = "redis://localhost:6379/0"\n')
    assert main(["init", str(root)]) == 0
    code = "print(json.dumps([settings.CELERY_BROKER_URL, getattr(settings, 'REDIS_URL', None)]))"

    with_broker = settings_in(root, "shop.settings_production", code,
                              {"CELERY_BROKER_URL": "redis://broker:6379/0", "REDIS_URL": "redis://broker:6379/0"})
    without = settings_in(root, "shop.settings_production", code)

    assert with_broker == ["redis://broker:6379/0", "redis://broker:6379/0"]
    assert without == ["redis://localhost:6379/0", None]


def test_the_next_steps_move_the_projects_uploads_with_its_sqlite_data(tmp_path, capsys):
    root = startproject(tmp_path / "shop")
    assert main(["init", str(root)]) == 0
    assert f"--data sqlite={root / 'db.sqlite3'}\n" in capsys.readouterr().out
    with_uploads = startproject(tmp_path / "other" / "shop")
    (with_uploads / "media").mkdir()
    assert main(["init", str(with_uploads)]) == 0
    printed = capsys.readouterr().out
    assert f"--data sqlite={with_uploads / 'db.sqlite3'} --data media={with_uploads / 'media'}" in printed
