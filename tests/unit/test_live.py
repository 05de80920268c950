"""The console commands' view of what serves: the sh lines run against a real directory tree."""

import subprocess

import pytest

from onehost.commands import live
from onehost.commands.switch import upstream_line

pytestmark = pytest.mark.unit


def run_sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)


@pytest.fixture
def layout(tmp_path):
    return live.layout_at(str(tmp_path))


def test_require_release_resolves_the_current_link(layout, tmp_path):
    release = tmp_path / "releases" / "20261206-1200-abc"
    release.mkdir(parents=True)
    (release / "release.env").write_text("APP_IMAGE=app@sha256:1\n")
    (tmp_path / "releases" / "current").symlink_to(release)
    result = run_sh(live.require_release(layout, "web-1") + '; echo "$release"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(release)


@pytest.mark.parametrize("state", ["no releases directory", "dangling link", "no release.env"])
def test_require_release_stops_with_a_message_when_nothing_is_deployed(layout, tmp_path, state):
    if state != "no releases directory":
        (tmp_path / "releases").mkdir()
        (tmp_path / "releases" / "current").symlink_to(tmp_path / "releases" / "gone")
    if state == "no release.env":
        (tmp_path / "releases" / "gone").mkdir()
    result = run_sh(live.require_release(layout, "web-1") + "; echo reached")
    assert result.returncode == live.NO_RELEASE_EXIT
    assert "reached" not in result.stdout
    assert result.stderr.strip() == "error: " + live.no_release_message("web-1")


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_live_colour_is_the_one_upstream_names(layout, tmp_path, colour):
    conf = tmp_path / "stacks" / "edge" / "conf.d"
    conf.mkdir(parents=True)
    (conf / "upstream.inc").write_text(upstream_line(f"app-{colour}-app-1", 8000))
    assert run_sh(live.live_colour(layout) + '; echo "[$colour]"').stdout.strip() == f"[{colour}]"


def test_live_colour_is_empty_without_an_edge(layout):
    assert run_sh(live.live_colour(layout) + '; echo "[$colour]"').stdout.strip() == "[]"
