"""The nginx templates render from group_data alone: every variable they use is a key the edge
task passes, and every template is written to the host."""

import runpy

import jinja2
import pytest

from deploy.tasks import edge
from onehost.paths import REPO_ROOT

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(str(edge.NGINX_TEMPLATES)),
                                 undefined=jinja2.StrictUndefined)


def test_every_template_is_rendered_to_the_host():
    templates = {path.name for path in edge.NGINX_TEMPLATES.glob("*.j2")}
    assert templates == set(edge.SITE_FILES.values())


def test_the_site_comes_after_the_http_settings_it_uses():
    # conf.d/*.conf is included in name order: log_format must be read before access_log uses it.
    confs = sorted(name for name in edge.SITE_FILES if name.endswith(".conf"))
    assert confs == ["00-http.conf", "app.conf"]


@pytest.mark.parametrize("name", sorted(edge.SITE_FILES))
def test_template_renders_from_the_settings_the_task_passes(name):
    settings = {key: GROUP_DATA[key] for key in edge.SITE_SETTINGS}
    text = ENVIRONMENT.get_template(edge.SITE_FILES[name]).render(**settings)
    assert "{{" not in text and "{%" not in text


def test_the_switch_file_is_not_one_of_ours():
    # upstream.inc belongs to the blue/green switch; the deploy writes it only when it is missing.
    assert "upstream.inc" not in edge.SITE_FILES
