"""The Python version a project asks for, and whether the image's Python gives it.

Read from the first of: `.python-version` (pyenv and uv: its first line, "3.12" or "3.12.4"),
`runtime.txt` (Heroku's "python-3.12.4"), pyproject.toml's `[project] requires-python`
(PEP 621, a specifier set), the Pipfile's `[requires] python_version`/`python_full_version`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet

VERSION = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?:\.\d+)?")


@dataclass(frozen=True)
class PythonRequest:
    specifier: SpecifierSet
    written: str   # as the project writes it
    where: str     # the file that says so


def _minor(text: str) -> SpecifierSet | None:
    match = VERSION.search(text)
    return SpecifierSet(f"=={match.group(1)}.{match.group(2)}.*") if match else None


def python_request(files: Mapping[str, str]) -> PythonRequest | None:
    """What the project asks for, from the texts of the files it has (by name)."""
    for name in (".python-version", "runtime.txt"):
        text = files.get(name, "").strip()
        first = text.splitlines()[0].strip() if text else ""
        specifier = _minor(first) if first else None
        if specifier is not None:
            return PythonRequest(specifier, first, name)
    if "pyproject.toml" in files:
        written = tomllib.loads(files["pyproject.toml"]).get("project", {}).get("requires-python")
        if written:
            try:
                return PythonRequest(SpecifierSet(written), written, "pyproject.toml requires-python")
            except InvalidSpecifier:
                pass
    if "Pipfile" in files:
        requires = tomllib.loads(files["Pipfile"]).get("requires", {})
        written = requires.get("python_full_version") or requires.get("python_version")
        specifier = _minor(str(written)) if written else None
        if specifier is not None:
            return PythonRequest(specifier, str(written), "Pipfile [requires]")
    return None


def matches(request: PythonRequest, image_version: str) -> bool:
    """Whether some release of the image's minor version (e.g. 3.13.x) satisfies the request:
    the image's patch release is Debian's (or the Python image's) latest, not fixed here."""
    return any(request.specifier.contains(f"{image_version}.{patch}", prereleases=False) for patch in (0, 99))


def mismatch_warning(request: PythonRequest | None, image_version: str, base_image: str) -> str | None:
    if request is None or matches(request, image_version):
        return None
    return (f"warning: the project asks for Python {request.written} ({request.where}), and the image runs "
            f"Python {image_version} ({base_image}; onehost's local stand-in is Debian's python3 "
            f"{image_version}): run the project's tests on {image_version}, or build on another base image "
            "(ARG BASE_IMAGE in the Dockerfile, or `onehost build-app --base-image`)")
