"""Each test directory is a tier: unit, aws, host. A test belongs to the tier of its folder."""

from pathlib import Path

import pytest

TIERS = ("unit", "aws", "host")


def pytest_collection_modifyitems(items):
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
