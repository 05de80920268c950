"""The example app, the reference users copy, leaves out what `onehost init` leaves out."""

import jinja2

from onehost.local.init import TEMPLATES
from onehost.paths import REPO_ROOT


def patterns(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_examples_dockerignore_has_inits_patterns():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    written_by_init = environment.get_template("dockerignore.j2").render(media_packages=[])
    assert patterns((REPO_ROOT / "example" / ".dockerignore").read_text()) == patterns(written_by_init)
