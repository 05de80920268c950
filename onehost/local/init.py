"""`onehost init`: add what the deploy needs to an existing Django project, and nothing else.

It reads the project (the settings module manage.py, wsgi.py and asgi.py name, the project's own
production settings, the WSGI module, the requirements as pip reads them, the Python version),
says what it found and what the deploy will change, and writes new files only: the Dockerfile and
.dockerignore, deploy settings on top of the project's production settings, the /health/
middleware, JSON logs and env-reading helpers beside them, gunicorn's config (or one that reads
the project's own), the list of what the image installs, the deploy settings (onehost.toml) and a
dev compose file. An existing file is never overwritten unless --force is given; --dry says what
the real run would do, the refusal included, and writes nothing.
"""

import ast
import importlib.metadata
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from onehost.commands import django_settings, processes, python_version, request_logging
from onehost.commands import requirements as reqs
from onehost.local import app_config
from onehost.local.base_images import RECIPES
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "init"
EXAMPLE = REPO_ROOT / "example"
DEPLOY_REQUIREMENTS = reqs.INSTALL_LIST
# What the deploy adds to any project that lacks them, pinned as the example app pins them
# (psycopg[binary] pulls the psycopg-binary of its own version).
DEPLOY_PACKAGES = ("gunicorn", "psycopg", "dj-database-url")
# The image's base and its Python: the local stand-in is built to be this image (base_images.py).
BASE_IMAGE = RECIPES["python"].stands_in_for
IMAGE_PYTHON = re.search(r"python:(\d+\.\d+)", BASE_IMAGE).group(1)
# Generic modules of the example app, copied verbatim into <package>/onehost/ (their names
# kept: health imports .logs), and the DATABASES merge the deploy settings use.
SUPPORT_PACKAGE = "onehost"
SUPPORT_MODULES = {
    "__init__.py": None,
    "env.py": EXAMPLE / "timewarp" / "settings" / "env.py",
    "health.py": EXAMPLE / "timewarp" / "health.py",
    "logs.py": EXAMPLE / "timewarp" / "logs.py",
    "databases.py": TEMPLATES / "databases.py",
}
SUPPORT_DOC = '''"""What the onehost deploy needs in the app: /health/, JSON logs, settings from the environment.

Copied from onehost\'s example app by `onehost init`; the production settings use them.
"""
'''
GUNICORN_CONFIG = EXAMPLE / "gunicorn.conf.py"
# gunicorn's default config file (gunicorn/config.py get_default_config_file: ./gunicorn.conf.py).
PROJECT_GUNICORN_CONFIG = "gunicorn.conf.py"
# When the project has its own: this one reads it and sets what the deploy needs on top.
GUNICORN_WRAPPER = "gunicorn.onehost.conf.py"
WSGI_SETTING = re.compile(r"""^WSGI_APPLICATION\s*=\s*["']([A-Za-z_][\w.]*)["']""", re.MULTILINE)
# A settings package's production module, by the names projects commonly use for it.
PRODUCTION_NAMES = ("production", "prod")
BASE_NAMES = ("base", "common")
# Modules that make a directory the project package (startproject's), not a settings package.
PROJECT_MODULES = {"wsgi", "asgi", "urls"}
# The module init writes on top of a production module the project has.
OWN_MODULE = "onehost"
# .dockerignore leaves uploads (MEDIA_ROOT) out at any depth; a Python package of that name is a
# Django app, kept by an exception naming its path (templates/init/dockerignore.j2).
UPLOADS_DIR = "media"
# Directories never searched for such packages: .dockerignore leaves them out anyway.
NOT_SEARCHED = frozenset({"node_modules", "venv", "__pycache__", "staticfiles"})
# In the docstring of the production settings init writes (templates/init/production.py.j2).
WRITTEN_BY_INIT = "Written by `onehost init`"
# Where the project declares its requirements, in the order init looks.
REQUIREMENTS_FILES = ("requirements.txt", "requirements/production.txt", "requirements/prod.txt",
                      "requirements/base.txt")
PYTHON_VERSION_FILES = (".python-version", "runtime.txt", "pyproject.toml", "Pipfile")


class InitError(CommandFailed):
    pass


@dataclass(frozen=True)
class Requirements:
    kind: str                  # "requirements", "pyproject", "uv" or "pipfile"
    source: str                # the file the project declares them in, relative to the project
    declared: reqs.Declared
    plan: reqs.InstallPlan

    @property
    def files(self) -> tuple[str, ...]:
        """The lists the image installs, in order."""
        return tuple(self.plan.lists)

    def describe(self) -> str:
        others = [name for name in self.declared.files if name != self.source]
        text = self.source + (f", and what it includes: {', '.join(others)}" if others else "")
        if self.declared.hashed:
            text += " (with hashes: pip checks them)"
        return text


@dataclass(frozen=True)
class SettingsTarget:
    base: str          # the module the deploy settings build on
    why: str           # how init chose it
    module: str        # the module init writes
    path: Path


@dataclass(frozen=True)
class Project:
    root: Path
    manage_settings: str       # manage.py's DJANGO_SETTINGS_MODULE
    named_settings: tuple      # (file, module) of every file that names one: manage.py, wsgi.py, asgi.py
    package: str               # the package holding the settings (and the support modules)
    target: SettingsTarget
    wsgi_module: str
    requirements: Requirements
    python: python_version.PythonRequest | None
    gunicorn_config: str       # the config file the image's CMD names
    notes: list = field(default_factory=list)
    # What already logs each request in the project's settings: then onehost's request log is left out.
    request_loggers: list = field(default_factory=list)
    procfile: str | None = None  # the Procfile's text, when the project has one

    def declared_processes(self) -> tuple[dict[str, str], str | None, bool]:
        """(the Procfile's processes besides web and release, its release command, whether the
        project needs a broker)."""
        entries, release = processes.parse_procfile(self.procfile) if self.procfile else ({}, None)
        requirement_names = [pin.name for pin in self.requirements.declared.pins]
        return entries, release, processes.wants_broker(entries, requirement_names)

    @property
    def base_settings(self) -> str:
        return self.target.base

    @property
    def production_settings(self) -> str:
        return self.target.module

    @property
    def production_path(self) -> Path:
        return self.target.path

    @property
    def keeps_gunicorn_config(self) -> bool:
        return self.gunicorn_config == GUNICORN_WRAPPER

    def describe(self) -> list[str]:
        named = "; ".join(f"{where} uses {module}" for where, module in self.named_settings)
        lines = [
            f"settings: {named}",
            f"WSGI: {self.wsgi_module}",
            f"requirements: {self.requirements.describe()}",
        ]
        if self.python:
            lines.append(f"Python: {self.python.written} ({self.python.where}); the image has {IMAGE_PYTHON}")
        return lines


def module_path(root: Path, module: str) -> Path | None:
    """The file of a dotted module inside root: a.b -> a/b.py or a/b/__init__.py."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def settings_module_of(manage_py: Path) -> str:
    module = django_settings.settings_default(manage_py.read_text())
    if not module:
        raise InitError(f"{manage_py} sets no DJANGO_SETTINGS_MODULE (os.environ.setdefault(...)): "
                        "is this the manage.py Django's startproject made?")
    return module


def is_written_by_init(path: Path) -> bool:
    return WRITTEN_BY_INIT in path.read_text()


def settings_package(root: Path, module: str) -> tuple[str, Path] | None:
    """(package module, its directory) when `module` sits in a package of settings modules
    (config/settings/{base,dev}.py, config/django/{base,production,test}.py, or the package
    itself); None for a single settings.py in the project package beside wsgi.py and urls.py."""
    path = module_path(root, module)
    if path is None:
        return None
    if path.name == "__init__.py":
        return module, path.parent
    directory = path.parent
    if not (directory / "__init__.py").is_file():
        return None
    siblings = {candidate.stem for candidate in directory.glob("*.py")}
    if directory.name == "settings" or (
            siblings & set(PRODUCTION_NAMES + BASE_NAMES) and not siblings & PROJECT_MODULES):
        return module.rpartition(".")[0], directory
    return None


def own_module_beside(root: Path, package_module: str, directory: Path, top_package: str) -> tuple[str, Path]:
    """The module init writes in a settings package: onehost.py, unless that directory is the
    project package, whose onehost/ holds the support modules."""
    name = OWN_MODULE if directory != root / top_package else f"{OWN_MODULE}_settings"
    return f"{package_module}.{name}", directory / f"{name}.py"


def production_target(root: Path, named: list[tuple[str, str]]) -> SettingsTarget:
    """What the deploy settings build on, and where init writes them. A production module
    (production.py, prod.py) is built on, never replaced: the one wsgi.py/asgi.py/manage.py name,
    else the settings package's own. Without one, a settings package gets production.py on its
    base module; a single settings.py gets settings_production.py beside it."""
    manage_settings = named[0][1]
    top_package = manage_settings.split(".")[0]
    for where, module in named:
        path = module_path(root, module)
        if module.rpartition(".")[2] in PRODUCTION_NAMES and not is_written_by_init(path):
            package_module = module if path.name == "__init__.py" else module.rpartition(".")[0]
            written, written_path = own_module_beside(root, package_module, path.parent, top_package)
            return SettingsTarget(module, f"named by {where}", written, written_path)
    package = next((found for found in (settings_package(root, module) for _, module in named) if found), None)
    if package is None:
        production = manage_settings.rpartition(".")[0] + ".settings_production"
        return SettingsTarget(manage_settings, "manage.py's", production.lstrip("."),
                              module_path(root, manage_settings).parent / "settings_production.py")
    package_module, directory = package
    existing = next((name for name in PRODUCTION_NAMES if (directory / f"{name}.py").is_file()
                     and not is_written_by_init(directory / f"{name}.py")), None)
    if existing:
        written, written_path = own_module_beside(root, package_module, directory, top_package)
        return SettingsTarget(f"{package_module}.{existing}", "the settings package's own production module",
                              written, written_path)
    base = next((name for name in BASE_NAMES if (directory / f"{name}.py").is_file()), None)
    name = PRODUCTION_NAMES[0]
    if base:
        return SettingsTarget(f"{package_module}.{base}", "the settings package's base module",
                              f"{package_module}.{name}", directory / f"{name}.py")
    return SettingsTarget(manage_settings, "manage.py's", f"{package_module}.{name}", directory / f"{name}.py")


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


def settings_chain(root: Path, module: str) -> list[tuple[str, Path]]:
    """The module and, depth first, the project's modules it star-imports (base settings)."""
    chain: list[tuple[str, Path]] = []
    pending = [module]
    while pending:
        name = pending.pop(0)
        path = module_path(root, name)
        if path is None or any(seen == name for seen, _ in chain):
            continue
        chain.append((name, path))
        pending[:0] = django_settings.star_imports(path.read_text(), name, path.name == "__init__.py")
    return chain


# --------------------------------------------------------------------------- requirements

def deploy_pins(requirements_txt: Path = EXAMPLE / "requirements.txt") -> list[str]:
    """The example's pins of DEPLOY_PACKAGES, so every init'd project gets tested versions."""
    declared = reqs.read_requirements(lambda name: (requirements_txt.parent / name).read_text(),
                                      requirements_txt.name)
    return [pin.text for pin in declared.pins if pin.name in DEPLOY_PACKAGES]


def installed_requires(pins: list[str]) -> dict[str, list[str]]:
    """What each deploy pin needs, from onehost's own environment when it has that very version
    (the example's pins are installed with the test dependencies)."""
    found = {}
    for text in pins:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        version = next((spec.version for spec in requirement.specifier if spec.operator == "=="), None)
        try:
            if importlib.metadata.version(name) == version:
                found[f"{name}=={version}"] = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def declared_requirements(root: Path) -> tuple[str, str, reqs.Declared]:
    """(kind, source, what it declares), from the first of the places projects declare them."""
    def read(name: str) -> str:
        return (root / name).read_text()

    for name in REQUIREMENTS_FILES:
        if (root / name).is_file():
            return "requirements", name, reqs.read_requirements(read, name)
    if (root / "pyproject.toml").is_file():
        declared = reqs.read_pyproject(read("pyproject.toml"))  # refuses Poetry's format first
        if (root / "uv.lock").is_file():
            return "uv", "uv.lock", reqs.read_uv_lock(read("uv.lock"))
        return "pyproject", "pyproject.toml", declared
    if (root / "Pipfile").is_file():
        if not (root / "Pipfile.lock").is_file():
            raise InitError("Pipfile has no Pipfile.lock: run `pipenv lock` so the image installs locked versions")
        return "pipfile", "Pipfile.lock", reqs.read_pipfile_lock(read("Pipfile.lock"))
    raise InitError(f"no requirements found in {root} (requirements.txt, pyproject.toml or Pipfile): "
                    "list the project's dependencies in one of them")


def requirements_of(root: Path) -> Requirements:
    try:
        kind, source, declared = declared_requirements(root)
        pins = deploy_pins()
        plan = reqs.install_plan(declared, pins, installed_requires(pins), IMAGE_PYTHON)
    except reqs.RequirementsError as error:
        raise InitError(f"{error} (nothing was written)") from None
    return Requirements(kind, source, declared, plan)


def requirement_files(root: Path, requirements: Requirements) -> dict[Path, str]:
    return {root / name: reqs.render_list(name, lines, requirements.declared.files)
            for name, lines in requirements.plan.lists.items()}


def refresh_requirement_lists(root: Path, dockerfile: str) -> list[str]:
    """Write again the lists init wrote, when the project's requirements changed since; the names
    of the files written. A list or constraint file the Dockerfile (its text) does not copy needs
    the Dockerfile written again, which is init's to do: refused, with that fix."""
    install_list = root / DEPLOY_REQUIREMENTS
    if not install_list.is_file() or not reqs.is_written_by_init(install_list.read_text()):
        return []  # not init's (the example's own Dockerfile, or one the user keeps by hand)
    requirements = requirements_of(root)
    files = requirement_files(root, requirements)
    needed = [path.name for path in files] + requirements.plan.constraints
    missing = [name for name in needed
               if not re.search(rf"^COPY\s.*(?<!\S){re.escape(name)}(?!\S)", dockerfile, re.MULTILINE)]
    if missing:
        raise InitError(f"the project's requirements now need {', '.join(missing)} in the image, and the "
                        "Dockerfile does not copy it: run `onehost init --force` to write the Dockerfile again "
                        "(`onehost init --dry --force` shows it first)")
    written = []
    for path, text in files.items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path.name)
    return written


# --------------------------------------------------------------------------- the project

def python_of(root: Path) -> python_version.PythonRequest | None:
    files = {name: (root / name).read_text() for name in PYTHON_VERSION_FILES if (root / name).is_file()}
    return python_version.python_request(files)


def inspect_project(root: Path) -> Project:
    root = root.resolve()
    manage_py = root / "manage.py"
    if not manage_py.is_file():
        raise InitError(f"no manage.py in {root}: run init in the Django project's directory (where manage.py is)")
    settings = settings_module_of(manage_py)
    package = settings.split(".")[0]
    named = [("manage.py", settings)]
    settings_path = module_path(root, settings)
    if settings_path is None:
        raise InitError(f"manage.py names the settings module {settings}, which is not in {root}: "
                        "run init in the directory that holds manage.py")
    wsgi_module = wsgi_module_of(root, [path for _, path in settings_chain(root, settings)], package)
    notes = []
    for module in dict.fromkeys([wsgi_module, f"{package}.wsgi", f"{package}.asgi"]):
        path = module_path(root, module)
        named_there = django_settings.settings_default(path.read_text()) if path else None
        where = str(path.relative_to(root)) if path else ""
        if named_there and module_path(root, named_there):
            named.append((where, named_there))
        elif named_there:
            notes.append(f"{where} names the settings module {named_there}, which is not in the project: left aside")
    target = production_target(root, named)
    settings_files = [path for _, path in settings_chain(root, target.base)]
    wsgi_module = wsgi_module_of(root, settings_files + [settings_path], package)
    loggers = request_logging.project_request_loggers([(name, path.read_text()) for name, path in
                                                       settings_chain(root, target.base)])
    own_gunicorn = (root / PROJECT_GUNICORN_CONFIG).is_file() and \
        (root / PROJECT_GUNICORN_CONFIG).read_text() != GUNICORN_CONFIG.read_text()  # not init's own copy
    return Project(root=root, manage_settings=settings, named_settings=tuple(named), package=package,
                   target=target, wsgi_module=wsgi_module, requirements=requirements_of(root),
                   python=python_of(root),
                   gunicorn_config=GUNICORN_WRAPPER if own_gunicorn else PROJECT_GUNICORN_CONFIG, notes=notes,
                   request_loggers=loggers,
                   procfile=(root / "Procfile").read_text() if (root / "Procfile").is_file() else None)


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


def check_name(app_name: str) -> str:
    if not app_config.NAME.match(app_name):
        raise InitError(f"app name {app_name!r}: use lowercase letters, digits, - and _, starting with a "
                        "letter (it names the image and the database), e.g. --app-name shop")
    return app_name


def constraint_copies(constraints: list[str]) -> list[tuple[str, list[str]]]:
    """The constraint files by directory, for one COPY each (paths kept: the list names them so)."""
    by_directory: dict[str, list[str]] = {}
    for name in constraints:
        by_directory.setdefault(os.path.dirname(name), []).append(name)
    return sorted(by_directory.items())


def planned_files(project: Project, app_name: str, server_names: list[str], image: str,
                  registry: str) -> dict[Path, str]:
    """Every file init writes, by path, with its content."""
    check_name(app_name)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined)

    def render(template: str, **values) -> str:
        return environment.get_template(template).render(**values)

    requirements = project.requirements
    try:
        declared, _, broker = project.declared_processes()
    except processes.ProcessError as error:
        raise InitError(f"{error} (nothing was written)") from None
    values = {"app_name": app_name, "settings_module": project.production_settings,
              "wsgi_module": project.wsgi_module, "base_image": BASE_IMAGE,
              "install_lists": requirements.files, "requirements_source": requirements.describe(),
              "constraint_copies": constraint_copies(requirements.plan.constraints),
              "gunicorn_config": project.gunicorn_config, "base_settings_module": project.base_settings,
              "own_request_log": bool(project.request_loggers),
              "request_id_settings": request_logging.id_settings(project.request_loggers),
              "package": project.package, "db_name": app_name.replace("-", "_")}
    root, package_dir = project.root, project.root / project.package
    files = {
        root / "Dockerfile": render("Dockerfile.j2", **values),
        root / ".dockerignore": render("dockerignore.j2", media_packages=packages_named(root, UPLOADS_DIR)),
        **requirement_files(root, requirements),
        root / project.gunicorn_config: (TEMPLATES / GUNICORN_WRAPPER if project.keeps_gunicorn_config
                                         else GUNICORN_CONFIG).read_text(),
        project.production_path: render("production.py.j2", **values),
        root / "onehost.toml": render("onehost.toml.j2", server_names=server_names, image=image,
                                      registry=registry, app_name=app_name, processes=declared,
                                      broker="valkey" if broker else "off"),
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


def changes(project: Project, files: dict[Path, str]) -> list[str]:
    """What the deploy changes of the project, in words: the settings module it runs and what
    that overrides, the requirements it installs, gunicorn's config, the Python version."""
    module = project.production_settings
    lines = [*project.notes, f"the deploy runs {module} (DJANGO_SETTINGS_MODULE in the image), on top of "
                             f"{project.base_settings} ({project.target.why})"]
    written = files[project.production_path]
    extended = set(django_settings.self_referencing(written))
    chain = settings_chain(project.root, project.base_settings)
    own_names = {name for _, path in chain for name in django_settings.assigned_settings(path.read_text())}
    replaced = [name for name in django_settings.assigned_settings(written) if name in own_names
                and name not in extended]
    if replaced:
        lines.append(f"{module} replaces the project's {', '.join(sorted(replaced))} (why: its docstring and "
                     "comments)")
    if "DATABASES" in extended:
        kept = [key for _, path in chain for key in django_settings.database_keys(path.read_text())
                if key not in django_settings.CONNECTION_KEYS]
        kept = list(dict.fromkeys(kept))
        line = (f'{module} takes DATABASES["default"]\'s connection ({", ".join(django_settings.CONNECTION_KEYS)}) '
                "from DATABASE_URL or the DB_* variables")
        lines.append(line + (f"; the project's {', '.join(kept)} stay" if kept else ""))
    if "MIDDLEWARE" in extended:
        lines.append(request_logging.decision(module, project.request_loggers))
    for message in project.requirements.plan.messages:
        lines.append(f"requirements: {message}")
    if project.procfile is not None:
        lines.extend(processes.procfile_notes(*project.declared_processes()))
    if project.keeps_gunicorn_config:
        lines.append(f"gunicorn: the project's {PROJECT_GUNICORN_CONFIG} is kept; the image runs gunicorn with "
                     f"{GUNICORN_WRAPPER}, which reads it and sets bind = 0.0.0.0:8000 (where nginx and the "
                     "health checks connect), and worker_tmp_dir, graceful_timeout and control_socket_disable "
                     "where the project sets none")
    return lines


def warnings(project: Project) -> list[str]:
    warning = python_version.mismatch_warning(project.python, IMAGE_PYTHON, BASE_IMAGE)
    return [warning] if warning else []


def refusal(files: dict[Path, str], force: bool) -> str | None:
    """Why the run writes nothing (files it would overwrite), or None."""
    existing = sorted(str(path) for path in files if path.exists())
    if existing and not force:
        return ("these files exist and would be overwritten: " + ", ".join(existing) +
                " (nothing was written; move them aside, or pass --force to replace them)")
    return None


def write_files(files: dict[Path, str], force: bool) -> None:
    """All or nothing: existing files stop the run before anything is written, unless forced."""
    reason = refusal(files, force)
    if reason:
        raise InitError(reason)
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
        f"--data sqlite={context / 'db.sqlite3'}"
        + (f" --data media={context / UPLOADS_DIR}" if (context / UPLOADS_DIR).is_dir() else ""),
    ]
