"""The .dockerignore `onehost init` writes, checked fast with docker-py's port of Docker's rules
(docker/docker-py docker/utils/build.py, "heavily based on" moby's pattern matcher; it is what
`docker.from_env().images.build` sends). tests/host/test_dockerignore.py checks the same tree
with Docker's own build.
"""

import tarfile
from pathlib import Path

import pytest
from docker.utils import tar

from onehost.local import init
from tests.context_tree import EXPECTED_IN_IMAGE, EXPECTED_LEFT_OUT, context_files, make_context

pytestmark = pytest.mark.unit


def ignore_patterns(root: Path) -> list[str]:
    """The file's patterns as docker-py reads them (docker/api/build.py: comments and blanks dropped)."""
    lines = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def sent_files(root: Path) -> set[str]:
    with tar(str(root), exclude=ignore_patterns(root)) as archive, tarfile.open(fileobj=archive) as context:
        return {member.name for member in context.getmembers() if member.isfile()}


def test_the_context_holds_the_app_and_no_secrets_data_or_clutter_at_any_depth(tmp_path, capsys):
    root = make_context(tmp_path / "shop")
    assert context_files(root) == EXPECTED_IN_IMAGE | EXPECTED_LEFT_OUT
    sent = sent_files(root)
    # The client always sends .dockerignore; the daemon leaves it out of the build when it is
    # excluded (the host test sees it absent from the image).
    leaked, missing = sorted(EXPECTED_LEFT_OUT & sent - {".dockerignore"}), sorted(EXPECTED_IN_IMAGE - sent)
    assert (leaked, missing) == ([], []), f"sent but must not be: {leaked}; not sent: {missing}"


def test_only_importable_packages_named_media_are_kept(tmp_path):
    for name in ("media/upload.png",                            # uploads at the root
                 "shop/media/uploads/cv.pdf",                   # cookiecutter-django's MEDIA_ROOT
                 "gallery/media/__init__.py",                   # a Django app named media
                 "apps/gallery/media/__init__.py",
                 "node_modules/thing/media/__init__.py",        # never searched
                 "my-site/media/__init__.py",                   # not importable: a pattern could misread it
                 ".venv/lib/media/__init__.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert init.packages_named(tmp_path, "media") == ["apps/gallery/media", "gallery/media"]
