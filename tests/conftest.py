"""Each test directory is a tier: unit, aws, host. A test belongs to the tier folder it is in
(at any depth: tests/host/image/ is the host tier).

The image suite's options live here so that `pytest tests/host/image --image-host ...` works
from the repository root (Packer runs it that way against the AMI's builder instance).
"""

from pathlib import Path

import pytest

TIERS = ("unit", "aws", "host")


def pytest_addoption(parser):
    group = parser.getgroup("onehost image suite (tests/host/image)")
    group.addoption("--image-host", metavar="SPEC", default=None,
                    help="testinfra host the image suite checks, e.g. docker://onehost-candidate or "
                         "ssh://admin@HOST:PORT (default: the host tier's deployed test instance)")
    group.addoption("--image-ssh-key", metavar="PATH", default=None,
                    help="private key for an ssh:// --image-host")
    group.addoption("--image", metavar="REFERENCE", default=None,
                    help="the committed local image to check for hygiene (host keys, machine-id, ...)")
    group.addoption("--image-expect-package", metavar="NAME", action="append", default=[],
                    help="also check that package NAME is installed (repeatable)")


def tier_of(path: Path) -> str | None:
    """The nearest folder among the test's ancestors that names a tier."""
    for parent in path.parents:
        if parent.name in TIERS:
            return parent.name
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        tier = tier_of(Path(str(item.fspath)))
        if tier:
            item.add_marker(getattr(pytest.mark, tier))
