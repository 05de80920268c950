"""Projects shaped the way real ones are, through `onehost init` and `onehost build-app`, and
what their images hold: the project's dependencies at its versions (lock files honoured, hashes
checked by pip), what the deploy adds, and the project's own production settings under the
module DJANGO_SETTINGS_MODULE names.

Needs the local dockerd and the Python base image only (no instance). With a CA bundle
configured (ONEHOST_CA_BUNDLE, PIP_CERT, ...) the builds go through the wheelhouse, as they do
behind a TLS-intercepting proxy; without one, pip in the build installs from PyPI.
"""

import json
import subprocess
import uuid

import pytest

from onehost.cli import main
from onehost.local import base_images
from tests import projects

REPOSITORY = f"onehost-project-builds-test-{uuid.uuid4().hex[:8]}"
# What the settings need to load; nothing connects to the database.
RUNTIME_ENV = {"SECRET_KEY": "host-test-secret-" + "k" * 40, "ALLOWED_HOSTS": "api.bookshop.example",
               "DATABASE_URL": "postgres://bookshop:pw@postgres:5432/bookshop"}
# Run in the image: the settings module, its values, every installed distribution.
PROBE = """
import importlib.metadata, json, os
import django
django.setup()
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "module": os.environ["DJANGO_SETTINGS_MODULE"],
    "cors": getattr(settings, "CORS_ALLOWED_ORIGINS", None),
    "database": {key: database.get(key) for key in ("ENGINE", "NAME", "HOST", "ATOMIC_REQUESTS", "CONN_MAX_AGE")},
    "installed": {dist.metadata["Name"].lower(): dist.version for dist in importlib.metadata.distributions()},
}))
"""


def docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"docker {' '.join(args)}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def python_base():
    yield base_images.ensure("python")
    listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY).split()
    if listed:
        subprocess.run(["docker", "image", "rm", "--force", *listed], capture_output=True, timeout=300)


def build(root, name: str, base: str) -> str:
    """init, then build-app as a user runs them; the image's tag."""
    assert main(["init", str(root), "--app-name", "bookshop"]) == 0
    tag = f"{REPOSITORY}:{name}"
    assert main(["build-app", "--context", str(root), "--tag", tag, "--base-image", base]) == 0
    return tag


def run_in(tag: str, *command: str) -> str:
    """The command's output in a container of the image, with the env the settings need."""
    environment = [argument for name, value in RUNTIME_ENV.items() for argument in ("--env", f"{name}={value}")]
    return docker("run", "--rm", *environment, tag, *command)


def probe(tag: str) -> dict:
    return json.loads(run_in(tag, "python", "-c", PROBE))


def test_a_settings_package_project_with_nested_requirements_and_a_psycopg2_source_pin(tmp_path, python_base):
    tag = build(projects.settings_package_project(tmp_path / "bookshop"), "settings-package", python_base)
    found = probe(tag)
    # The deploy's module, on top of the project's own production module (its CORS and database options).
    assert found["module"] == "config.django.onehost"
    assert found["cors"] == ["https://app.bookshop.example"]
    assert found["database"] == {"ENGINE": "django.db.backends.postgresql", "NAME": "bookshop", "HOST": "postgres",
                                 "ATOMIC_REQUESTS": True, "CONN_MAX_AGE": 120}
    installed = found["installed"]
    # requirements.txt -> requirements/production.txt -> base.txt, the -c constraint, the project's gunicorn,
    # psycopg2 as its wheel; dj-database-url added.
    assert {name: installed.get(name) for name in ("django", "asgiref", "gunicorn", "psycopg2-binary",
                                                   "dj-database-url", "psycopg2", "psycopg")} == {
        "django": "5.2.19", "asgiref": "3.13.0", "gunicorn": "23.0.0", "psycopg2-binary": "2.9.10",
        "dj-database-url": "3.1.2", "psycopg2": None, "psycopg": None}
    if "sqlparse" in installed:  # only when something needs it; then at the constrained version
        assert installed["sqlparse"] == "0.6.1"
    # The image's CMD reads the project's gunicorn.conf.py and binds where the deploy connects.
    printed = run_in(tag, "gunicorn", "--config", "gunicorn.onehost.conf.py", "--print-config", "config.wsgi")
    settings = {name.strip(): value.strip() for name, _, value in
                (line.partition(" = ") for line in printed.splitlines()) if value}
    assert (settings["bind"], settings["workers"], settings["proc_name"]) == ("['0.0.0.0:8000']", "3", "bookshop-web")


def test_a_pyproject_project_locked_by_uv_builds_from_its_lock(tmp_path, python_base):
    found = probe(build(projects.uv_project(tmp_path / "bookshop"), "uv", python_base))
    assert found["module"] == "bookshop.settings_production"
    assert found["database"]["ENGINE"] == "django.db.backends.postgresql"
    installed = found["installed"]
    assert {name: installed.get(name) for name in ("django", "asgiref", "sqlparse", "gunicorn", "psycopg",
                                                   "psycopg-binary", "dj-database-url", "pytest", "bookshop")} == {
        "django": "5.2.19", "asgiref": "3.13.0", "sqlparse": "0.6.1", "gunicorn": "27.0.1", "psycopg": "3.3.9",
        "psycopg-binary": "3.3.9", "dj-database-url": "3.1.2", "pytest": None, "bookshop": None}


def test_a_pipfile_project_builds_from_its_lock(tmp_path, python_base):
    found = probe(build(projects.pipfile_project(tmp_path / "bookshop"), "pipfile", python_base))
    assert found["module"] == "bookshop.settings_production"
    installed = found["installed"]
    assert {name: installed.get(name) for name in ("django", "asgiref", "sqlparse", "psycopg", "psycopg-binary",
                                                   "gunicorn", "dj-database-url", "pytest", "pipenv")} == {
        "django": "5.2.19", "asgiref": "3.13.0", "sqlparse": "0.6.1", "psycopg": "3.3.9", "psycopg-binary": "3.3.9",
        "gunicorn": "27.0.1", "dj-database-url": "3.1.2", "pytest": None, "pipenv": None}
