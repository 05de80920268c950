"""The documentation site builds with `mkdocs build --strict`, and the configuration makes a broken
link, a missing anchor or a page left out of the nav fail that build; the README's links lead to
pages of the site; the per-run `--data` keys the reference names are read by the deploy files."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=120)


def test_the_site_builds_strictly(tmp_path):
    result = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").exists()


def test_a_broken_link_a_missing_anchor_and_a_page_outside_the_nav_fail_the_build(tmp_path):
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    with (tmp_path / "docs" / "index.md").open("a") as index:
        index.write("\n[gone](how-to/no-such-page.md) [nowhere](how-to/tls.md#no-such-heading)\n")
    (tmp_path / "docs" / "stray.md").write_text("# Not in the nav\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "how-to/no-such-page.md" in output
    assert "no-such-heading" in output
    assert "stray.md" in output


def nav_pages(nav) -> set[str]:
    pages = set()
    for entry in nav:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            pages |= nav_pages(value) if isinstance(value, list) else {value}
    return pages


def test_every_link_of_the_readme_leads_somewhere():
    readme = (REPO / "README.md").read_text()
    links = [target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in target]
    nav = nav_pages(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"])
    assert any(link.startswith("docs/") for link in links)
    missing = [link for link in links if not (REPO / link).exists()]
    outside_nav = [link for link in links if link.startswith("docs/") and link.removeprefix("docs/") not in nav]
    assert not missing and not outside_nav, (missing, outside_nav)


def test_every_per_run_key_is_read_by_the_deploy_files():
    index = (REPO / "docs" / "reference" / "index.md").read_text()
    section = re.search(r"^## Per-run data\n(.*?)(?=^## )", index, re.M | re.S).group(1)
    keys = re.findall(r"^\| `([a-z_]+)` \|", section, re.M)
    code = "".join(path.read_text() for folder in ("deploy", "onehost") for path in (REPO / folder).rglob("*.py"))
    unread = [key for key in keys if f'"{key}"' not in code]
    assert len(keys) >= 10 and not unread, unread
