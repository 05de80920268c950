"""A Django project's build context with secrets, data and clutter at several depths, for the
.dockerignore that `onehost init` writes: which files may reach the app image and which not.

Used by the unit tier (docker-py's port of Docker's rules) and the host tier (a real build).
"""

from pathlib import Path

from onehost.cli import main

MANAGE_PY = '''import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
'''
SETTINGS_PY = 'SECRET_KEY = "dev-only"\nWSGI_APPLICATION = "shop.wsgi.application"\n'

# The project's own files the image needs: code (an app named `media` among it), static and
# template sources, requirements, env templates that hold no values, a filled wheelhouse.
APP_FILES = {
    "manage.py": MANAGE_PY,
    "shop/__init__.py": "",
    "shop/settings.py": SETTINGS_PY,
    "shop/wsgi.py": "application = None\n",
    "shop/.env.example": "SECRET_KEY=\n",
    "requirements.txt": "Django==5.2.19\n",
    "requirements/production.txt": "-r ../requirements.txt\n",
    "env.example": "SECRET_KEY=\nDB_PASSWORD=\n",
    ".env.example": "SECRET_KEY=\n",
    "catalog/__init__.py": "",
    "catalog/models.py": "",
    "catalog/keys.py": "# code whose name only looks like a key\n",
    "catalog/static/catalog/app.css": "body {}\n",
    "catalog/templates/catalog/list.html": "<ul></ul>\n",
    "gallery/__init__.py": "",
    "gallery/media/__init__.py": "",
    "gallery/media/models.py": "# a Django app named media is code, not uploads\n",
    "libs/widget/widget.py": "",
    "frontend/src/app.js": "",
    "docs/environment.md": "",
    "wheelhouse/Django-5.2.19-py3-none-any.whl": "",
}
# What must never reach the image: secrets, data, and what the build makes again.
SECRET_FILES = {
    ".env": "SECRET_KEY=root-env\n",
    "shop/.env": "SECRET_KEY=nested-env\n",
    "config/prod.env": "DB_PASSWORD=prod\n",
    ".env.local": "SECRET_KEY=local\n",
    "shop/.env.production": "SECRET_KEY=production\n",
    ".envs/.production/.django": "DJANGO_SECRET_KEY=cookiecutter\n",
    ".envs/.production/.postgres": "POSTGRES_PASSWORD=cookiecutter\n",
    ".envrc": "export SECRET_KEY=direnv\n",
    "certs/server.pem": "-----BEGIN PRIVATE KEY-----\n",
    "deploy/tls/private.key": "-----BEGIN PRIVATE KEY-----\n",
    "shop/keys/signing.pem": "-----BEGIN PRIVATE KEY-----\n",
    "db.sqlite3": "rows",
    "shop/db.sqlite3": "rows",
    "shop/db.sqlite3-wal": "rows",
    "data/archive/old.sqlite3-journal": "rows",
    "media/avatars/ada.png": "upload",
    "shop/media/uploads/cv.pdf": "upload",   # cookiecutter-django's MEDIA_ROOT (APPS_DIR / "media")
    "docker-compose.yml": "services: {}\n",
}
CLUTTER_FILES = {
    ".git/config": "[core]\n",
    ".gitignore": ".env\n",
    "libs/widget/.git": "gitdir: ../../.git/modules/widget\n",   # a submodule
    "node_modules/left-pad/index.js": "",
    "frontend/node_modules/react/index.js": "",
    "shop/__pycache__/settings.cpython-313.pyc": "",
    "catalog/models.pyc": "",
    ".venv/bin/python": "",
    "tools/venv/bin/python": "",
    "staticfiles/admin/css/base.css": "",
    "catalog/.pytest_cache/README.md": "",
}
# What `onehost init` writes into this project, and which of it the image carries.
INIT_FILES_IN_IMAGE = {
    "Dockerfile", "gunicorn.conf.py", "onehost.toml", "requirements-onehost.txt", "shop/settings_production.py",
    "shop/onehost/__init__.py", "shop/onehost/env.py", "shop/onehost/health.py", "shop/onehost/logs.py",
    "shop/onehost/databases.py",
}
INIT_FILES_LEFT_OUT = {".dockerignore", "compose.dev.yaml"}

EXPECTED_IN_IMAGE = set(APP_FILES) | INIT_FILES_IN_IMAGE
EXPECTED_LEFT_OUT = set(SECRET_FILES) | set(CLUTTER_FILES) | INIT_FILES_LEFT_OUT


def make_context(root: Path) -> Path:
    """The project with its files at several depths, then `onehost init` run in it."""
    for name, text in {**APP_FILES, **SECRET_FILES, **CLUTTER_FILES}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert main(["init", str(root), "--app-name", "shop"]) == 0
    return root


def context_files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
