"""A project's Python dependencies as pip reads them, and the list the app image installs.

The project declares them in a requirements file (followed through its `-r`/`-c` includes), in
pyproject.toml (locked by uv.lock, or not locked), or in a Pipfile locked by Pipfile.lock. Each
is read into `Declared`: pins with their hashes, file-wide options, constraint files. Then
`install_plan` adds what the deploy needs without contradicting the project: the project's own
gunicorn, psycopg and dj-database-url are reused; a psycopg2 that builds from source is swapped
for its binary wheel; a conflict is reported here, naming both pins, before any build.

pip's format: https://pip.pypa.io/en/stable/reference/requirements-file-format/ (and pip's
src/pip/_internal/req/req_file.py: a line ending in `\\` joins the next, `#` at the start or after
whitespace starts a comment, options begin with `-`, `-r`/`-c` paths are relative to the file
that names them). Specifiers and markers are parsed by `packaging` (PEP 508).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# pip's req_file.py COMMENT_RE: a comment starts at the line's start or after whitespace.
COMMENT = re.compile(r"(^|\s+)#.*$")
PYPI_SIMPLE = "https://pypi.org/simple"

# The files the image build installs, written by `onehost init` beside the project's own.
INSTALL_LIST = "requirements-onehost.txt"
# With hashes (pip's hash-checking mode is all or nothing for one `pip install`), what onehost adds
# or swaps has none, so it is installed by a second `pip install` from this file.
ADDED_LIST = "requirements-onehost-added.txt"
MARKER = "written by `onehost init`"

# File-wide options pip takes in a requirements file (req_file.py SUPPORTED_OPTIONS), kept as
# written; those that take a value.
VALUE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--no-binary",
                 "--only-binary", "--trusted-host", "--use-feature"}
FLAG_OPTIONS = {"--no-index", "--prefer-binary", "--require-hashes", "--no-require-hashes", "--pre",
                "--all-releases", "--only-final"}

# What the files init writes need from the deploy's packages (below that, they break):
# dj_database_url.parse(conn_health_checks=...) in the settings' env.py arrived in dj-database-url
# 1.1.0 and reached parse() in 1.2.0 (jazzband/dj-database-url CHANGELOG.md).
MINIMUM = {"dj-database-url": SpecifierSet(">=1.2")}
# psycopg2 builds from source (a compiler and libpq's headers, which the image has not);
# psycopg2-binary is the same code as a wheel (psycopg/psycopg2 README, "psycopg2-binary").
SOURCE_BUILT = {"psycopg2": "psycopg2-binary"}
# Any of these gives Django a PostgreSQL driver that installs from a wheel.
BINARY_DRIVERS = {"psycopg2-binary", "psycopg-binary", "psycopg-c"}


class RequirementsError(ValueError):
    """The project's requirements cannot be read, or contradict what the deploy needs."""


@dataclass(frozen=True)
class Pin:
    """One requirement as the project declares it."""
    requirement: Requirement
    text: str                      # the specifier as written, without per-requirement options
    where: str                     # file:line, or the lock file's entry
    hashes: tuple[str, ...] = ()   # --hash values, as written (sha256:...)
    options: tuple[str, ...] = ()  # other per-requirement options (--config-settings=...)

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str | None:
        """The one version an `==`/`===` pin allows (no wildcard), else None."""
        specifiers = list(self.requirement.specifier)
        if len(specifiers) == 1 and specifiers[0].operator in ("==", "===") and "*" not in specifiers[0].version:
            return specifiers[0].version
        return None

    def lines(self) -> list[str]:
        parts = [self.text, *self.options, *(f"--hash={value}" for value in self.hashes)]
        if len(parts) == 1:
            return parts
        return [f"{parts[0]} \\", *(f"    {part} \\" for part in parts[1:-1]), f"    {parts[-1]}"]


@dataclass
class Declared:
    """The project's dependencies, read as pip would read them."""
    source: str                                          # what they were read from, for messages
    pins: list[Pin] = field(default_factory=list)
    options: list[str] = field(default_factory=list)     # file-wide options, in order
    direct: list[str] = field(default_factory=list)      # lines that are no specifier (URLs, VCS)
    constraints: list[str] = field(default_factory=list)         # -c files, from the project root
    constraint_pins: list[Pin] = field(default_factory=list)
    files: list[str] = field(default_factory=list)       # every file read, from the project root
    notes: list[str] = field(default_factory=list)       # what was left out, and why

    @property
    def hashed(self) -> bool:
        """pip's hash-checking mode: on with any --hash, or with --require-hashes."""
        return "--require-hashes" in self.options or any(pin.hashes for pin in self.pins)


# --------------------------------------------------------------------------- requirements files

def logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each line pip acts on: continuations joined (not after a comment
    line), comments stripped, blank lines dropped (req_file.py join_lines, ignore_comments)."""
    joined: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        is_comment = bool(re.match(r"^\s*#", line))
        if line.endswith("\\") and not is_comment:
            if not pending:
                start = number
            pending.append(line[:-1])
            continue
        if pending:
            joined.append((start, "".join(pending) + ("" if is_comment else line)))
            pending = []
        else:
            joined.append((number, line))
    if pending:
        joined.append((start, "".join(pending)))
    lines = []
    for number, line in joined:
        line = COMMENT.sub("", line).strip()
        if line:
            lines.append((number, line))
    return lines


def _split_option(tokens: list[str], index: int) -> tuple[str, str | None, int]:
    """(option, value, next index) for `--opt value`, `--opt=value` or `-rvalue`."""
    token = tokens[index]
    if token.startswith("--") and "=" in token:
        name, value = token.split("=", 1)
        return name, value, index + 1
    if not token.startswith("--") and len(token) > 2:
        return token[:2], token[2:], index + 1
    if token in VALUE_OPTIONS | {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "--hash",
                                 "--config-settings"}:
        if index + 1 >= len(tokens):
            return token, None, index + 1
        return token, tokens[index + 1], index + 2
    return token, None, index + 1


def _break_args_options(line: str) -> tuple[str, list[str]]:
    """The specifier and the per-requirement options of a line: the specifier ends at the first
    space-separated token that starts with `-` (req_file.py break_args_options)."""
    tokens = line.split(" ")
    first_option = next((index for index, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    return " ".join(tokens[:first_option]).strip(), shlex.split(" ".join(tokens[first_option:]))


def _is_local_path(text: str) -> bool:
    return text.startswith((".", "/", "file:")) or text == "."


def _included(parent: str, target: str, where: str) -> str:
    """The root-relative path of a file named by -r/-c in `parent` (relative to parent's folder)."""
    if "://" in target:
        raise RequirementsError(f"{where} includes {target}: the image build reads only the project's own "
                                "files; copy it into the project and name it by its path")
    path = posixpath.normpath(posixpath.join(posixpath.dirname(parent), target))
    if target.startswith("/") or path == ".." or path.startswith("../"):
        raise RequirementsError(f"{where} includes {target}, outside the project: the image build sees only "
                                "the project's directory; move the file into it")
    return path


def read_requirements(read: Callable[[str], str], top: str) -> Declared:
    """The requirements of `top` (root-relative), its -r includes read in place and its -c
    constraint files recorded, as pip reads them. `read(path)` gives a file's text by its
    root-relative path (FileNotFoundError when there is none)."""
    declared = Declared(source=top)
    _read_file(read, top, declared, seen=set(), constraint=False, named_at=None)
    return declared


def _read_file(read, name: str, declared: Declared, seen: set[str], constraint: bool, named_at: str | None):
    if name in seen:
        return
    seen.add(name)
    try:
        text = read(name)
    except FileNotFoundError:
        raise RequirementsError(f"{named_at} names {name}, which does not exist" if named_at else
                                f"no {name}") from None
    declared.files.append(name)
    for number, line in logical_lines(text):
        where = f"{name}:{number}"
        if line.startswith("-"):
            _read_options(read, name, line, where, declared, seen, constraint)
            continue
        args, options = _break_args_options(line)
        try:
            requirement = Requirement(args)
        except InvalidRequirement:
            if constraint:
                continue  # pip refuses such constraints itself; nothing to check here
            if _is_local_path(args):
                declared.notes.append(f"left out {args} ({where}): the image runs the project's code from "
                                      "/app without installing it")
            else:
                declared.direct.append(line)  # an archive or VCS URL: pip takes it as written
            continue
        hashes, other = [], []
        index = 0
        while index < len(options):
            option, value, index = _split_option(options, index)
            if option == "--hash" and value:
                hashes.append(value)
            elif value is not None:
                other.append(f"{option}={value}")
            else:
                other.append(option)
        pin = Pin(requirement, args, where, tuple(hashes), tuple(other))
        (declared.constraint_pins if constraint else declared.pins).append(pin)


def _read_options(read, name, line, where, declared, seen, constraint):
    tokens = shlex.split(line)
    index = 0
    while index < len(tokens):
        option, value, index = _split_option(tokens, index)
        if option in ("-r", "--requirement", "-c", "--constraint"):
            if value is None:
                raise RequirementsError(f"{where}: {option} names no file")
            path = _included(name, value, where)
            is_constraint = constraint or option in ("-c", "--constraint")
            if option in ("-c", "--constraint") and not constraint and path not in declared.constraints:
                declared.constraints.append(path)
            _read_file(read, path, declared, seen, is_constraint, where)
        elif option in ("-e", "--editable"):
            if constraint:
                continue
            if value and not _is_local_path(value):
                declared.direct.append(f"-e {value}")
            else:
                declared.notes.append(f"left out -e {value} ({where}): the image runs the project's code from "
                                      "/app without installing it")
        elif option in VALUE_OPTIONS or option in FLAG_OPTIONS:
            if constraint:
                continue
            text = option if value is None else f"{option} {value}"
            if text not in declared.options:
                declared.options.append(text)
        else:
            raise RequirementsError(f"{where}: pip does not take {option} in a requirements file")


# --------------------------------------------------------------------------- pyproject.toml, uv.lock

def read_pyproject(text: str, name: str = "pyproject.toml") -> Declared:
    """[project].dependencies, as written (no lock: pip resolves them in the build)."""
    data = tomllib.loads(text)
    project = data.get("project")
    if project is None:
        raise RequirementsError(f"{name} has no [project] table (Poetry's own format?): export the dependencies "
                                "to requirements.txt (`poetry export -o requirements.txt`) and run init again")
    if "dependencies" in project.get("dynamic", []):
        raise RequirementsError(f"{name} declares its dependencies as dynamic: list them in [project] "
                                "dependencies, or in requirements.txt, and run init again")
    declared = Declared(source=name, files=[name])
    for index, text in enumerate(project.get("dependencies", []), start=1):
        try:
            declared.pins.append(Pin(Requirement(text), text, f"{name} [project] dependencies #{index}"))
        except InvalidRequirement as error:
            raise RequirementsError(f"{name}: dependency {text!r} is not a PEP 508 specifier ({error})") from None
    return declared


def read_uv_lock(text: str, name: str = "uv.lock") -> Declared:
    """What `uv export --no-dev --no-emit-project` gives: every package the project's own
    dependencies need, at the locked version, with the locked files' hashes, and the marker of
    the edges that lead to it. uv.lock is uv's own TOML (docs.astral.sh/uv/concepts/projects/layout/,
    "The lockfile"; astral-sh/uv crates/uv-resolver/src/lock): [[package]] with name, version,
    source (the project itself: virtual or editable "."), dependencies [{name, extra, marker,
    version}], optional-dependencies, dev-dependencies (left out), sdist and wheels with hash."""
    data = tomllib.loads(text)
    packages = data.get("package", [])
    roots = [package for package in packages if {"virtual", "editable"} & set(package.get("source", {}))
             and package["source"].get("virtual", package["source"].get("editable")) == "."]
    if not roots:
        raise RequirementsError(f"{name} has no entry for the project itself (source = {{ virtual = \".\" }}): "
                                "run `uv lock` in the project and init again")
    by_name: dict[str, list[dict]] = {}
    for package in packages:
        by_name.setdefault(canonicalize_name(package["name"]), []).append(package)

    def find(edge: dict) -> dict:
        candidates = by_name.get(canonicalize_name(edge["name"]), [])
        if "version" in edge:
            candidates = [package for package in candidates if package.get("version") == edge["version"]]
        if len(candidates) != 1:
            raise RequirementsError(f"{name}: cannot tell which {edge['name']} the lock means: run `uv lock` again")
        return candidates[0]

    # (package name, version) -> markers of the paths reaching it (None: unconditional)
    reached: dict[tuple[str, str], set[str | None]] = {}
    extras_of: dict[tuple[str, str], set[str]] = {}
    pending = [(edge, None) for edge in roots[0].get("dependencies", [])]
    while pending:
        edge, parent_marker = pending.pop()
        package = find(edge)
        key = (package["name"], package["version"])
        marker = _and(parent_marker, edge.get("marker"))
        new_extras = set(edge.get("extra", [])) - extras_of.get(key, set())
        if key in reached and marker in reached[key] and not new_extras:
            continue
        reached.setdefault(key, set()).add(marker)
        extras_of.setdefault(key, set()).update(new_extras)
        for dependency in package.get("dependencies", []):
            pending.append((dependency, marker))
        for extra in edge.get("extra", []):
            for dependency in package.get("optional-dependencies", {}).get(extra, []):
                pending.append((dependency, marker))
    declared = Declared(source=name, files=[name])
    for package in sorted((find({"name": n, "version": v}) for n, v in reached), key=lambda p: p["name"]):
        source = package.get("source", {})
        if "registry" not in source:
            raise RequirementsError(f"{name}: {package['name']} comes from {json.dumps(source)}, not a package "
                                    "index: the image build installs from an index or the wheelhouse only")
        if source["registry"].rstrip("/") != PYPI_SIMPLE:
            option = f"--extra-index-url {source['registry']}"
            if option not in declared.options:
                declared.options.append(option)
        markers = reached[(package["name"], package["version"])]
        marker = None if None in markers else _or(sorted(markers))
        text = f"{package['name']}=={package['version']}" + (f" ; {marker}" if marker else "")
        files = [package["sdist"]] if "sdist" in package else []
        hashes = tuple(entry["hash"] for entry in files + package.get("wheels", []) if "hash" in entry)
        declared.pins.append(Pin(Requirement(text), text, f"{name} {package['name']}", hashes))
    return declared


def _and(first: str | None, second: str | None) -> str | None:
    if not first or not second:
        return first or second
    return f"({first}) and ({second})"


def _or(markers: list[str]) -> str:
    return markers[0] if len(markers) == 1 else " or ".join(f"({marker})" for marker in markers)


# --------------------------------------------------------------------------- Pipfile.lock

def read_pipfile_lock(text: str, name: str = "Pipfile.lock") -> Declared:
    """The "default" packages of Pipfile.lock (not "develop"), at their locked versions with
    their hashes, markers and extras; its sources as index options (pipenv's lock format,
    pypa/pipenv docs/pipfile.md: "_meta" with "sources" and "requires", then "default" and
    "develop", each package with "version", "hashes", "markers", "extras")."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequirementsError(f"{name} is not JSON ({error}): run `pipenv lock` again") from None
    declared = Declared(source=name, files=[name])
    for index, source in enumerate(data.get("_meta", {}).get("sources", [])):
        url = source.get("url", "").rstrip("/")
        if index == 0 and url != PYPI_SIMPLE:
            declared.options.append(f"--index-url {url}")
        elif index > 0:
            declared.options.append(f"--extra-index-url {url}")
    for package, entry in sorted(data.get("default", {}).items()):
        if entry.get("path") or entry.get("file") or entry.get("editable"):
            declared.notes.append(f"left out {package} ({name}, a local path): the image runs the project's "
                                  "code from /app without installing it")
            continue
        if "version" not in entry:
            raise RequirementsError(f"{name}: {package} has no locked version ({', '.join(sorted(entry))}): the "
                                    "image build installs from an index or the wheelhouse only")
        extras = f"[{','.join(entry['extras'])}]" if entry.get("extras") else ""
        marker = entry.get("markers")
        text = f"{package}{extras}{entry['version']}" + (f" ; {marker}" if marker else "")
        declared.pins.append(Pin(Requirement(text), text, f"{name} {package}", tuple(entry.get("hashes", []))))
    return declared


# --------------------------------------------------------------------------- what the image installs

@dataclass(frozen=True)
class InstallPlan:
    """The lists the image installs (file name -> lines, in install order) and what init says."""
    lists: dict[str, list[str]]
    messages: list[str]
    constraints: list[str]


def image_environment(python_version: str) -> dict[str, str]:
    """Marker values of the image (Linux, CPython at python_version) for PEP 508 markers."""
    return {"python_version": python_version, "python_full_version": f"{python_version}.0",
            "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def applies(requirement: Requirement, environment: Mapping[str, str]) -> bool:
    try:
        return requirement.marker is None or requirement.marker.evaluate(dict(environment))
    except InvalidMarker:
        return True


def _same_version(first: str, second: str) -> bool:
    try:
        return Version(first) == Version(second)
    except InvalidVersion:
        return first == second


def _allows(specifier: SpecifierSet, version: str) -> bool:
    try:
        return specifier.contains(version, prereleases=True)
    except InvalidVersion:
        return True


def install_plan(declared: Declared, deploy_pins: list[str], requires: Mapping[str, list[str]],
                 python_version: str) -> InstallPlan:
    """The project's requirements with what the deploy needs. `deploy_pins` (gunicorn,
    psycopg[binary], dj-database-url, as onehost tests them) are added only for packages the
    project does not list; a version the project pins or constrains is reused; a source-built
    psycopg2 is swapped for its wheel. `requires` maps "name==version" of a deploy pin to its own
    requirements, so what it pulls in is checked against the project's pins too.
    RequirementsError names both sides of any conflict."""
    environment = image_environment(python_version)
    pins = [pin for pin in declared.pins if applies(pin.requirement, environment)]
    constraint_pins = [pin for pin in declared.constraint_pins if applies(pin.requirement, environment)]
    _check_double_pins(pins + constraint_pins)
    names = {pin.name for pin in pins}
    own, extra, messages = [], [], []

    for pin in declared.pins:
        replacement = SOURCE_BUILT.get(pin.name)
        if replacement is None:
            own.append(pin)
        elif replacement in names:
            messages.append(f"left out {pin.text} ({pin.where}): it builds from source, and the project also "
                            f"lists {replacement}")
        else:
            requirement = pin.requirement
            text = f"{replacement}{requirement.specifier}" + (f" ; {requirement.marker}" if requirement.marker else "")
            extra.append(text)
            names.add(replacement)
            messages.append(f"{pin.text} ({pin.where}) builds from source, which needs a compiler and libpq's "
                            f"headers the image has not: the image installs {text} instead (the same driver, "
                            "as a wheel)")

    def listed(name: str, among: list[Pin]) -> Pin | None:
        return next((pin for pin in among if pin.name == name), None)

    for requirement in (Requirement(text) for text in deploy_pins):
        name = canonicalize_name(requirement.name)
        own_pin = listed(name, pins)
        if name == "psycopg":
            if names & BINARY_DRIVERS or (own_pin and own_pin.requirement.extras & {"binary", "c"}):
                continue  # the project's own PostgreSQL driver installs from a wheel
            if own_pin is not None:
                text = f"psycopg[binary]{own_pin.requirement.specifier}"
                extra.append(text)
                messages.append(f"psycopg ({own_pin.where}) gets its binary extra: the image installs {text} "
                                "(libpq comes with the wheel)")
                continue
        elif own_pin is not None:
            _check_minimum(own_pin)
            messages.append(f"{name}: the project's own {own_pin.text} ({own_pin.where})")
            continue
        constraint = listed(name, constraint_pins)
        if constraint is not None and constraint.version:
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            text = f"{requirement.name}{extras}=={constraint.version}"
            _check_minimum(Pin(Requirement(text), constraint.text, constraint.where))
            extra.append(text)
            messages.append(f"added {text}: the deploy needs it, at the version {constraint.where} constrains "
                            "it to")
            continue
        _check_requires(requirement, requires, pins + constraint_pins, environment)
        extra.append(str(requirement))
        messages.append(f"added {requirement}: the deploy needs it and the project does not list it")

    lines = [*declared.options, *(f"-c {path}" for path in declared.constraints)]
    for pin in own:
        lines += pin.lines()
    lines += declared.direct
    if declared.hashed and extra:
        index_options = [option for option in declared.options if "hashes" not in option]
        lists = {INSTALL_LIST: lines, ADDED_LIST: index_options + extra}
    else:
        lists = {INSTALL_LIST: lines + extra}
    return InstallPlan(lists, declared.notes + messages, list(declared.constraints))


def _check_double_pins(pins: list[Pin]) -> None:
    first: dict[str, Pin] = {}
    for pin in pins:
        if pin.version is None:
            continue
        seen = first.setdefault(pin.name, pin)
        if not _same_version(seen.version, pin.version):
            raise RequirementsError(f"{seen.where} pins {seen.text} and {pin.where} pins {pin.text}: pip cannot "
                                    "install both; keep one version")


def _check_minimum(pin: Pin) -> None:
    """The project's version of a deploy package must have what the files init writes use."""
    minimum = MINIMUM.get(pin.name)
    if minimum is None:
        return
    probes = [pin.version] if pin.version else [str(spec.version) for spec in minimum] + ["999"]
    if not any(_allows(minimum, probe) and _allows(pin.requirement.specifier, probe) for probe in probes):
        raise RequirementsError(f"{pin.where} pins {pin.text}, and the settings `onehost init` writes need "
                                f"{pin.name}{minimum} (dj_database_url.parse with conn_health_checks): "
                                f"raise the project's pin to {pin.name}{minimum}")


def _check_requires(requirement: Requirement, requires: Mapping[str, list[str]], pins: list[Pin],
                    environment: Mapping[str, str]) -> None:
    """What a deploy pin pulls in must agree with the versions the project pins."""
    version = next((spec.version for spec in requirement.specifier if spec.operator == "=="), None)
    key = f"{canonicalize_name(requirement.name)}=={version}"
    for text in requires.get(key, []):
        needed = Requirement(text)
        if not any(applies(needed, {**environment, "extra": extra}) for extra in {"", *requirement.extras}):
            continue
        for pin in pins:
            if pin.name == canonicalize_name(needed.name) and pin.version \
                    and not _allows(needed.specifier, pin.version):
                raise RequirementsError(
                    f"the deploy adds {requirement}, which needs {needed.name}{needed.specifier}, and {pin.where} "
                    f"pins {pin.text}: raise the project's {pin.name}, or list a {canonicalize_name(requirement.name)} "
                    "that supports it in the project's requirements (init then uses the project's)")


def render_list(name: str, lines: list[str], sources: list[str]) -> str:
    """A list's text: a header saying where it comes from, then its lines."""
    what = {INSTALL_LIST: "What the app image installs",
            ADDED_LIST: f"What the deploy adds, installed after {INSTALL_LIST} (pip checks hashes per install)"}[name]
    header = [f"# {what}: {MARKER} from {', '.join(sources)}.",
              "# `onehost build-app` writes it again when those change: edit them, not this file."]
    return "\n".join(header + lines) + "\n"


def is_written_by_init(text: str) -> bool:
    return MARKER in text.split("\n", 1)[0]
