"""Django projects made the way their authors make them, for `onehost init` and `build-app`.

Each starts from `django-admin startproject` and then takes the shape real projects have:

- `settings_package_project`: settings in a package not named `settings`
  (config/django/{base,production,test}.py), manage.py on base and wsgi.py/asgi.py on production,
  a production module with its own CORS, ATOMIC_REQUESTS, CONN_MAX_AGE and security settings;
  requirements split into files that include each other with -r and constrain with -c, psycopg2
  pinned from source, its own gunicorn pin and gunicorn.conf.py;
- `uv_project`: pyproject.toml with uv.lock (a dev group that stays out) and .python-version;
- `pipfile_project`: Pipfile and Pipfile.lock, psycopg[binary] of its own.

The locks carry the sha256 of PyPI's wheel files for the versions the example app pins, so pip's
hash checking passes for real in the host tier's builds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

DJANGO_ADMIN = str(Path(sys.executable).with_name("django-admin"))

# `pip hash` of PyPI's wheels: name -> (version, wheel file, sha256).
WHEELS = {
    "asgiref": ("3.13.0", "asgiref-3.13.0-py3-none-any.whl",
                "f9596a2434512686473d50f96ff6207fbba49ae1a785dfac614df4aeb085674d"),
    "django": ("5.2.19", "django-5.2.19-py3-none-any.whl",
               "5965d974a5218a2b68a11dd1276434707f23886525c23f0598eccedaf4f4ca00"),
    "sqlparse": ("0.6.1", "sqlparse-0.6.1-py3-none-any.whl",
                 "3be5a72d04c873d690d7c6dedd33d6fae2ef82759881ceec02fc2efd0cba564f"),
    "psycopg": ("3.3.9", "psycopg-3.3.9-py3-none-any.whl",
                "d2d7d04a1ce6dab4f5b27316bea3b52585cafa2f2d631e5b09dd69823f5c26f6"),
    "psycopg-binary": ("3.3.9", "psycopg_binary-3.3.9-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                       "180e4a99904d7a77f826fbb6dd16834bb3313675d8a6f055e39742fda00c33dc"),
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def startproject(where: Path, name: str = "shop", requirements: str | None = "Django==5.2.19\n") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run([DJANGO_ADMIN, "startproject", name, str(where)], check=True, timeout=60)
    if requirements is not None:
        (where / "requirements.txt").write_text(requirements)
    return where


def set_default_settings(path: Path, module: str) -> None:
    """Point a file's os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...) at module."""
    text = path.read_text()
    start = text.index("DJANGO_SETTINGS_MODULE")
    end = text.index(")", start)
    path.write_text(text[:start] + f"DJANGO_SETTINGS_MODULE', '{module}'" + text[end:])


PRODUCTION = '''"""Production settings: what the team runs in production."""
import os

from .base import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "api.bookshop.example").split(",")
CORS_ALLOWED_ORIGINS = ["https://app.bookshop.example"]
CORS_ALLOW_CREDENTIALS = True
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = 120
SECURE_SSL_REDIRECT = True
SESSION_COOKIE_SECURE = True
'''
TEST_SETTINGS = '''from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
'''
# The project's own gunicorn settings: a bind the deploy cannot use, a name to find it by.
GUNICORN_CONF = '''bind = "127.0.0.1:9000"
workers = 3
proc_name = "bookshop-web"
'''
SPLIT_REQUIREMENTS = {
    "requirements.txt": "-r requirements/production.txt\n",
    "requirements/base.txt": "Django==5.2.19  # the framework\nasgiref==3.13.0\n",
    "requirements/production.txt": ("-r base.txt\n-c constraints.txt\n"
                                    "gunicorn==23.0.0\n"
                                    "psycopg2==2.9.10  # builds from source: needs pg_config\n"),
    "requirements/constraints.txt": "sqlparse==0.6.1\n",
    "requirements/local.txt": "-r base.txt\nipython\n",
}


def settings_package_project(root: Path) -> Path:
    """config/django/{base,production,test}.py; manage.py on base, wsgi.py and asgi.py on
    production; nested requirements with a psycopg2 source pin; its own gunicorn."""
    startproject(root, "config", requirements=None)
    package = root / "config" / "django"
    package.mkdir()
    (package / "__init__.py").write_text("")
    base = package / "base.py"
    (root / "config" / "settings.py").rename(base)
    base.write_text(base.read_text().replace("Path(__file__).resolve().parent.parent",
                                             "Path(__file__).resolve().parent.parent.parent"))
    write(root, {"config/django/production.py": PRODUCTION, "config/django/test.py": TEST_SETTINGS,
                 "gunicorn.conf.py": GUNICORN_CONF, ".python-version": "3.13\n", **SPLIT_REQUIREMENTS})
    set_default_settings(root / "manage.py", "config.django.base")
    set_default_settings(root / "config" / "wsgi.py", "config.django.production")
    set_default_settings(root / "config" / "asgi.py", "config.django.production")
    return root


def uv_lock_package(name: str, dependencies: list[dict] | None = None) -> str:
    version, wheel, sha256 = WHEELS[name]
    lines = ["[[package]]", f'name = "{name}"', f'version = "{version}"',
             'source = { registry = "https://pypi.org/simple" }']
    if dependencies:
        lines.append("dependencies = [")
        lines += [f"    {inline(dependency)}," for dependency in dependencies]
        lines.append("]")
    lines += ["wheels = [",
              f'    {{ url = "https://files.pythonhosted.org/packages/{wheel}", hash = "sha256:{sha256}" }},',
              "]"]
    return "\n".join(lines) + "\n"


def inline(table: dict) -> str:
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in table.items()) + " }"


PYPROJECT = '''[project]
name = "bookshop"
version = "0.1.0"
requires-python = ">=3.12"
dependencies = ["django==5.2.19"]

[dependency-groups]
dev = ["pytest>=8"]
'''


def uv_lock() -> str:
    """What `uv lock` writes for PYPROJECT (format version 1): the project itself as virtual,
    its dev group apart, Django's win32-only tzdata behind its marker."""
    parts = ['version = 1\nrevision = 3\nrequires-python = ">=3.12"\n',
             uv_lock_package("asgiref"),
             '[[package]]\nname = "bookshop"\nversion = "0.1.0"\nsource = { virtual = "." }\n'
             'dependencies = [\n    { name = "django" },\n]\n\n'
             '[package.dev-dependencies]\ndev = [\n    { name = "pytest" },\n]\n',
             uv_lock_package("django", [{"name": "asgiref"}, {"name": "sqlparse"},
                                        {"name": "tzdata", "marker": "sys_platform == 'win32'"}]),
             '[[package]]\nname = "pytest"\nversion = "8.4.2"\nsource = { registry = "https://pypi.org/simple" }\n'
             'wheels = [\n    { url = "https://files.pythonhosted.org/packages/pytest-8.4.2-py3-none-any.whl", '
             f'hash = "sha256:{"0" * 64}" }},\n]\n',
             uv_lock_package("sqlparse"),
             '[[package]]\nname = "tzdata"\nversion = "2025.2"\nsource = { registry = "https://pypi.org/simple" }\n'
             'wheels = [\n    { url = "https://files.pythonhosted.org/packages/tzdata-2025.2-py2.py3-none-any.whl", '
             f'hash = "sha256:{"1" * 64}" }},\n]\n']
    return "\n".join(parts)


def uv_project(root: Path) -> Path:
    """pyproject.toml locked by uv.lock, .python-version 3.12 (uv init writes one)."""
    startproject(root, "bookshop", requirements=None)
    write(root, {"pyproject.toml": PYPROJECT, "uv.lock": uv_lock(), ".python-version": "3.12\n"})
    return root


PIPFILE = '''[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[packages]
django = "==5.2.19"
psycopg = {version = "==3.3.9", extras = ["binary"]}

[dev-packages]
pytest = "*"

[requires]
python_version = "3.13"
'''


def pipfile_lock() -> str:
    """What `pipenv lock` writes for PIPFILE (pipfile-spec 6)."""
    def entry(name, **more):
        version, _, sha256 = WHEELS[name]
        return {"hashes": [f"sha256:{sha256}"], "index": "pypi", **more, "version": f"=={version}"}

    return json.dumps({
        "_meta": {"hash": {"sha256": "0" * 64}, "pipfile-spec": 6, "requires": {"python_version": "3.13"},
                  "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}]},
        "default": {
            "asgiref": entry("asgiref", markers="python_version >= '3.9'"),
            "django": entry("django", markers="python_version >= '3.10'"),
            "psycopg": entry("psycopg", extras=["binary"], markers="python_version >= '3.10'"),
            "psycopg-binary": entry("psycopg-binary", markers="implementation_name != 'pypy'"),
            "sqlparse": entry("sqlparse", markers="python_version >= '3.8'"),
        },
        "develop": {"pytest": {"hashes": [f"sha256:{'2' * 64}"], "index": "pypi", "version": "==8.4.2"}},
    }, indent=4, sort_keys=True) + "\n"


def pipfile_project(root: Path) -> Path:
    startproject(root, "bookshop", requirements=None)
    write(root, {"Pipfile": PIPFILE, "Pipfile.lock": pipfile_lock()})
    return root


# --- realistic_project: everything issue 19 asks of one project at once ---------------------------

# Added to config/django/base.py: the apps a developer runs with, devtools among them.
REALISTIC_BASE_ADDITIONS = '''
import os  # noqa: E402

INSTALLED_APPS += ["rest_framework", "jobs", "files", "devtools"]  # devtools: development only
REST_FRAMEWORK = {"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "media"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
'''
# Added to config/django/production.py: devtools stays out, CORS comes in (django-cors-headers
# README: CorsMiddleware "as high as possible", before CommonMiddleware).
REALISTIC_PRODUCTION_ADDITIONS = '''
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "devtools"] + ["corsheaders"]
MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *MIDDLEWARE]
'''
REALISTIC_REQUIREMENTS = {
    "requirements/base.txt": ("Django==5.2.19  # the framework\nasgiref==3.13.0\n"
                              "djangorestframework==3.18.3\ncelery==5.5.3\nredis==5.2.1\n"),
    "requirements/production.txt": ("-r base.txt\n-c constraints.txt\n"
                                    "gunicorn==23.0.0\n"
                                    "psycopg2==2.9.10  # builds from source: needs pg_config\n"
                                    "django-cors-headers==4.7.0\n"),
}
FILES_MODELS = '''from django.db import models


class Document(models.Model):
    file = models.FileField(upload_to="uploads/")


class Note(models.Model):
    text = models.CharField(max_length=200)
'''
# Uploads through Django's storage; a view that writes and then fails (ATOMIC_REQUESTS undoes the write).
FILES_VIEWS = '''import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from files.models import Document, Note


@csrf_exempt
def upload(request):
    document = Document.objects.create(file=request.FILES["file"])
    return JsonResponse({"name": document.file.name, "url": document.file.url}, status=201)


@csrf_exempt
def note_then_fail(request):
    Note.objects.create(text=json.loads(request.body)["text"])
    raise RuntimeError("this view fails after writing, on purpose")


def notes(request):
    texts = Note.objects.filter(text=request.GET["text"]).values_list("text", flat=True)
    return JsonResponse({"texts": list(texts)})
'''
FILES_API = '''from rest_framework import routers, serializers, viewsets

from files.models import Document


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "file"]


class DocumentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Document.objects.order_by("id")
    serializer_class = DocumentSerializer


router = routers.DefaultRouter()
router.register("documents", DocumentViewSet)
'''
DEVTOOLS_MODELS = '''from django.db import models


class Snippet(models.Model):
    text = models.TextField()
'''
REALISTIC_URLS = '''from django.contrib import admin
from django.urls import include, path

from files import views as files
from files.api import router
from jobs import views as jobs

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/uploads/", files.upload),
    path("api/notes/", files.notes),
    path("api/notes/fail/", files.note_then_fail),
    path("api/", include(router.urls)),
    path("jobs/", jobs.queue),
    path("jobs/<int:job_id>/", jobs.result),
]
'''
REALISTIC_ROWS = '''
from devtools.models import Snippet
from files.models import Document, Note
from jobs.models import Job
Job.objects.create(id=4, text="from sqlite", result="FROM SQLITE", processed_by="laptop")
Document.objects.create(id=2, file="uploads/cover.png")
Note.objects.create(id=9, text="written on the laptop")
Snippet.objects.create(text="only in development")
'''
GITIGNORE = "db.sqlite3\nmedia/\n__pycache__/\n*.pyc\nwheelhouse/\n"


def realistic_project(root: Path, jobs_app: dict[str, str], procfile: str, media: dict[str, bytes]) -> Path:
    """settings_package_project with a Celery app and the `jobs` app given (config/celery_app.py,
    jobs/{models,tasks,views}.py) and its Procfile; an upload endpoint (FileField), a DRF API and
    the admin; CORS in the production module only; a dev-only `devtools` app with a migration in
    base's INSTALLED_APPS, not production's; a db.sqlite3 with rows in every app's tables (made by
    the project's own migrate) and a media/ directory holding `media`."""
    settings_package_project(root)
    for app in ("jobs", "files", "devtools"):
        manage(root, "startapp", app)
    base = root / "config" / "django" / "base.py"
    base.write_text(base.read_text() + REALISTIC_BASE_ADDITIONS)
    production = root / "config" / "django" / "production.py"
    production.write_text(production.read_text() + REALISTIC_PRODUCTION_ADDITIONS)
    write(root, {**REALISTIC_REQUIREMENTS, **jobs_app, "Procfile": procfile, ".gitignore": GITIGNORE,
                 "files/models.py": FILES_MODELS, "files/views.py": FILES_VIEWS, "files/api.py": FILES_API,
                 "devtools/models.py": DEVTOOLS_MODELS, "config/urls.py": REALISTIC_URLS})
    manage(root, "makemigrations", "jobs", "files", "devtools")
    manage(root, "migrate")
    manage(root, "shell", "--command", REALISTIC_ROWS)
    for name, content in media.items():
        (root / "media" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "media" / name).write_bytes(content)
    return root


def manage(root: Path, *args: str) -> None:
    """The project's manage.py with its own default settings (config.django.base)."""
    environ = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=root, env=environ,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def commit_all(root: Path, message: str = "The bookshop API") -> str:
    """`git init` and one commit of everything not ignored; the commit's id."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), "-c", "user.name=Bookshop Dev",
                               "-c", "user.email=dev@bookshop.example", *args],
                              check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    git("init", "--quiet", "--initial-branch", "main")
    git("add", "--all")
    git("commit", "--quiet", "--message", message)
    return git("rev-parse", "HEAD")
