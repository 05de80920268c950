"""`onehost init`: add what the deploy needs to an existing Django project, and nothing else.

It reads the project (manage.py's settings module, the WSGI module, how requirements are
declared), says what it found, and writes new files only: the Dockerfile and .dockerignore, a
production settings module on top of the project's own settings, the /health/ middleware, JSON
logs and env-reading helpers beside them, gunicorn's config, the deploy settings (onehost.toml),
the deploy's extra requirements and a dev compose file. An existing file is never overwritten
unless --force is given; with --dry nothing is written.
"""

import ast
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jinja2

from onehost.local import app_config
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "init"
EXAMPLE = REPO_ROOT / "example"
DEPLOY_REQUIREMENTS = "requirements-onehost.txt"
# What the deploy adds to any project: these packages, pinned as the example app pins them.
DEPLOY_PACKAGES = ("gunicorn", "psycopg[binary]", "psycopg-binary", "dj-database-url")
# Generic modules of the example app, copied verbatim into <package>/onehost/ (their names
# kept: health imports .logs).
SUPPORT_PACKAGE = "onehost"
SUPPORT_MODULES = {
    "__init__.py": None,
    "env.py": EXAMPLE / "timewarp" / "settings" / "env.py",
    "health.py": EXAMPLE / "timewarp" / "health.py",
    "logs.py": EXAMPLE / "timewarp" / "logs.py",
}
SUPPORT_DOC = '''"""What the onehost deploy needs in the app: /health/, JSON logs, settings from the environment.

Copied from onehost\'s example app by `onehost init`; the production settings use them.
"""
'''
GUNICORN_CONFIG = EXAMPLE / "gunicorn.conf.py"
SETTINGS_CALL = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z_][\w.]*)["']""")
WSGI_SETTING = re.compile(r"""^WSGI_APPLICATION\s*=\s*["']([A-Za-z_][\w.]*)["']""", re.MULTILINE)
# A settings package's production module, by the names projects commonly use for it.
PRODUCTION_NAMES = ("production", "prod")
BASE_NAMES = ("base", "common")
# The module init writes in a settings package that has production settings of its own.
OWN_MODULE = "onehost"
# .dockerignore leaves uploads (MEDIA_ROOT) out at any depth; a Python package of that name is a
# Django app, kept by an exception naming its path (templates/init/dockerignore.j2).
UPLOADS_DIR = "media"
# Directories never searched for such packages: .dockerignore leaves them out anyway.
NOT_SEARCHED = frozenset({"node_modules", "venv", "__pycache__", "staticfiles"})
# In the docstring of the production settings init writes (templates/init/production.py.j2).
WRITTEN_BY_INIT = "Written by `onehost init`"


class InitError(CommandFailed):
    pass


@dataclass(frozen=True)
class Requirements:
    kind: str          # "requirements", "pyproject" or "pipfile"
    source: str        # the file the project declares them in, relative to the project
    files: tuple = ()  # for "requirements": the files the image build copies

    @property
    def pip_args(self) -> str:
        return " ".join(f"-r /wheels/{Path(name).name}" for name in self.files)


@dataclass(frozen=True)
class Project:
    root: Path
    manage_settings: str       # manage.py's DJANGO_SETTINGS_MODULE
    package: str               # the package holding the settings (and the support modules)
    base_settings: str         # the module the production settings build on
    production_settings: str   # the module init writes
    production_path: Path
    wsgi_module: str
    requirements: Requirements

    def describe(self) -> list[str]:
        return [
            f"settings: {self.manage_settings} (from manage.py); production settings build on {self.base_settings}",
            f"WSGI: {self.wsgi_module}",
            f"requirements: {self.requirements.source}",
        ]


def module_path(root: Path, module: str) -> Path | None:
    """The file of a dotted module inside root: a.b -> a/b.py or a/b/__init__.py."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def settings_module_of(manage_py: Path) -> str:
    match = SETTINGS_CALL.search(manage_py.read_text())
    if not match:
        raise InitError(f"{manage_py} sets no DJANGO_SETTINGS_MODULE (os.environ.setdefault(...)): "
                        "is this the manage.py Django's startproject made?")
    return match.group(1)


def production_target(root: Path, settings: str) -> tuple[str, str, Path]:
    """(base module, production module, its path), following the project's settings layout:
    a settings package (config/settings/{base,dev}.py) gets production.py beside its base
    module, or onehost.py on top of the production module it has; a single settings.py gets
    settings_production.py beside it."""
    path = module_path(root, settings)
    if path is None:
        raise InitError(f"manage.py names the settings module {settings}, which is not in {root}: "
                        "run init in the directory that holds manage.py")
    if path.name == "__init__.py":                     # config.settings is itself the package
        package_module = settings
    elif path.parent.name == "settings" and (path.parent / "__init__.py").is_file():
        package_module = settings.rpartition(".")[0]   # config.settings.dev
    else:                                              # shop.settings, a single module
        production = settings.rpartition(".")[0] + ".settings_production"
        return settings, production.lstrip("."), path.parent / "settings_production.py"
    package_dir = path.parent
    # A production module of the project's own is built on, never replaced.
    existing = next((name for name in PRODUCTION_NAMES if (package_dir / f"{name}.py").is_file()), None)
    if existing and WRITTEN_BY_INIT in (package_dir / f"{existing}.py").read_text():
        existing = None  # init's own, from an earlier run: its target again
    if existing:
        return f"{package_module}.{existing}", f"{package_module}.{OWN_MODULE}", package_dir / f"{OWN_MODULE}.py"
    base = next((f"{package_module}.{name}" for name in BASE_NAMES if (package_dir / f"{name}.py").is_file()),
                settings)
    name = PRODUCTION_NAMES[0]
    return base, f"{package_module}.{name}", package_dir / f"{name}.py"


def wsgi_module_of(root: Path, settings_files: list[Path], package: str) -> str:
    for path in settings_files:
        match = WSGI_SETTING.search(path.read_text())
        if match:
            module = match.group(1).rpartition(".")[0]  # "config.wsgi.application" -> "config.wsgi"
            if module_path(root, module):
                return module
    if module_path(root, f"{package}.wsgi"):
        return f"{package}.wsgi"
    raise InitError(f"no WSGI module found (WSGI_APPLICATION in the settings, or {package}/wsgi.py): "
                    "gunicorn needs one; `django-admin startproject` makes <project>/wsgi.py")


def requirements_of(root: Path) -> Requirements:
    for name in ("requirements.txt", "requirements/production.txt", "requirements/base.txt"):
        if (root / name).is_file():
            return Requirements("requirements", name, (name, DEPLOY_REQUIREMENTS))
    if (root / "pyproject.toml").is_file():
        data = tomllib.loads((root / "pyproject.toml").read_text())
        if "project" not in data:
            raise InitError("pyproject.toml has no [project] table (Poetry's own format?): export the "
                            "dependencies to requirements.txt (`poetry export -o requirements.txt`) and run init again")
        return Requirements("pyproject", "pyproject.toml")
    if (root / "Pipfile").is_file():
        if not (root / "Pipfile.lock").is_file():
            raise InitError("Pipfile has no Pipfile.lock: run `pipenv lock` so the image installs locked versions")
        return Requirements("pipfile", "Pipfile")
    raise InitError(f"no requirements found in {root} (requirements.txt, pyproject.toml or Pipfile): "
                    "list the project's dependencies in one of them")


def inspect_project(root: Path) -> Project:
    root = root.resolve()
    manage_py = root / "manage.py"
    if not manage_py.is_file():
        raise InitError(f"no manage.py in {root}: run init in the Django project's directory (where manage.py is)")
    settings = settings_module_of(manage_py)
    base, production, production_path = production_target(root, settings)
    package = settings.split(".")[0]
    settings_files = [path for path in (module_path(root, base), module_path(root, settings)) if path]
    return Project(root=root, manage_settings=settings, package=package, base_settings=base,
                   production_settings=production, production_path=production_path,
                   wsgi_module=wsgi_module_of(root, settings_files, package),
                   requirements=requirements_of(root))


def packages_named(root: Path, name: str) -> list[str]:
    """The importable packages called name under root, as /-separated paths from root. Every part
    of such a path is an identifier, so it is also a .dockerignore pattern that matches itself."""
    found = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(sub for sub in subdirectories if sub.isidentifier() and sub not in NOT_SEARCHED)
        here = Path(directory)
        if here != root and here.name == name and "__init__.py" in files:
            found.append(here.relative_to(root).as_posix())
    return found


def deploy_pins(requirements_txt: Path = EXAMPLE / "requirements.txt") -> list[str]:
    """The example's pins of DEPLOY_PACKAGES, so every init'd project gets tested versions."""
    pins = []
    for line in requirements_txt.read_text().splitlines():
        name = re.split(r"[=<>!~ ;]", line.strip(), maxsplit=1)[0].lower()
        if name in DEPLOY_PACKAGES:
            pins.append(line.strip())
    return pins


def check_name(app_name: str) -> str:
    if not app_config.NAME.match(app_name):
        raise InitError(f"app name {app_name!r}: use lowercase letters, digits, - and _, starting with a "
                        "letter (it names the image and the database), e.g. --app-name shop")
    return app_name


def planned_files(project: Project, app_name: str, server_names: list[str], image: str,
                  registry: str) -> dict[Path, str]:
    """Every file init writes, by path, with its content."""
    check_name(app_name)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined)

    def render(template: str, **values) -> str:
        return environment.get_template(template).render(**values)

    values = {"app_name": app_name, "settings_module": project.production_settings,
              "wsgi_module": project.wsgi_module, "requirements": project.requirements,
              "deploy_requirements": DEPLOY_REQUIREMENTS, "base_settings_module": project.base_settings,
              "package": project.package, "db_name": app_name.replace("-", "_")}
    root, package_dir = project.root, project.root / project.package
    files = {
        root / "Dockerfile": render("Dockerfile.j2", **values),
        root / ".dockerignore": render("dockerignore.j2", media_packages=packages_named(root, UPLOADS_DIR)),
        root / DEPLOY_REQUIREMENTS: render("requirements-onehost.txt.j2", pins=deploy_pins()),
        root / "gunicorn.conf.py": GUNICORN_CONFIG.read_text(),
        project.production_path: render("production.py.j2", **values),
        root / "onehost.toml": render("onehost.toml.j2", server_names=server_names, image=image,
                                      registry=registry, app_name=app_name),
        root / "compose.dev.yaml": render("compose.dev.yaml.j2", **values),
    }
    for name, source in SUPPORT_MODULES.items():
        files[package_dir / SUPPORT_PACKAGE / name] = source.read_text() if source else SUPPORT_DOC
    for path, text in files.items():
        if path.suffix == ".py":
            ast.parse(text, str(path))  # a template bug must not reach the user's tree
    try:
        app_config.parse(files[root / "onehost.toml"], "onehost.toml")  # what the inventory will read
    except app_config.AppConfigError as error:
        raise InitError(f"{error} (from the options given; nothing was written)") from None
    return files


def write_files(files: dict[Path, str], force: bool) -> None:
    """All or nothing: existing files stop the run before anything is written, unless forced."""
    existing = sorted(str(path) for path in files if path.exists())
    if existing and not force:
        raise InitError("these files exist and would be overwritten: " + ", ".join(existing) +
                        " (nothing was written; move them aside, or pass --force to replace them)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def next_steps(project: Project, app_name: str) -> list[str]:
    context = project.root
    return [
        "next, from the onehost checkout:",
        f"  1. build the image:   .venv/bin/onehost build-app --context {context} --tag {app_name}:v1",
        "  2. put SECRET_KEY and DB_PASSWORD in an env file (KEY=value lines, mode 600), or in SSM",
        f"  3. export ONEHOST_APP_CONFIG={context / 'onehost.toml'}",
        "  4. deploy:            .venv/bin/pyinfra deploy/inventory.py deploy/deploy.py --data tag=v1 "
        "--data env_file=app.env",
        "  5. move the SQLite data once: .venv/bin/pyinfra deploy/inventory.py deploy/import_sqlite.py "
        f"--data sqlite={context / 'db.sqlite3'}",
    ]
