"""Each test directory is a tier: unit, aws, host. A test belongs to the tier folder it is in
(at any depth), or to the tier of a suite that lives beside what it checks (the image suite,
packer/image_suite/, is the host tier).

The host tier's session fixtures (one deployed test instance) are a plugin loaded here rather
than tests/host's conftest, so the image suite outside tests/ can check the same instance.
"""

from pathlib import Path

import pytest

pytest_plugins = ["tests.host.fixtures"]

TIERS = ("unit", "aws", "host")
# Suites kept beside the product they gate, by their folder's last two parts, and their tier.
SUITES_OUTSIDE_TESTS = {("packer", "image_suite"): "host"}


def tier_of(path: Path) -> str | None:
    """The nearest folder among the test's ancestors that names a tier or a suite."""
    for parent in path.parents:
        if parent.name in TIERS:
            return parent.name
        if (parent.parent.name, parent.name) in SUITES_OUTSIDE_TESTS:
            return SUITES_OUTSIDE_TESTS[parent.parent.name, parent.name]
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        tier = tier_of(Path(str(item.fspath)))
        if tier:
            item.add_marker(getattr(pytest.mark, tier))
