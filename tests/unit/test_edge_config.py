"""The nginx templates render from the settings' edge section alone: every variable they use is
one the edge task passes, and every template is written to the host."""

import ipaddress
import re
import runpy

import jinja2
import pytest

from deploy.settings import EdgeSettings
from deploy.tasks import certificates, edge
from onehost.commands import cloudflare, tls
from onehost.local import base_images
from onehost.paths import REPO_ROOT

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
SITE_SETTINGS = EdgeSettings.from_values(GROUP_DATA).template_values()
ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(str(edge.NGINX_TEMPLATES)),
                                 undefined=jinja2.StrictUndefined)


def test_every_template_is_rendered_to_the_host():
    templates = {path.name for path in edge.NGINX_TEMPLATES.glob("*.j2")}
    assert templates == set(edge.SITE_FILES.values()) | {certificates.CERTIFICATE_TEMPLATE.name}


def test_the_site_comes_after_the_http_settings_it_uses():
    # conf.d/*.conf is included in name order: log_format must be read before access_log uses it.
    confs = sorted(name for name in edge.SITE_FILES if name.endswith(".conf"))
    assert confs == ["00-http.conf", "app.conf"]


SHIPPED_RANGES = cloudflare.shipped_ranges()


def render(name: str, tls_on: bool, static_files: bool = True, **overrides) -> str:
    settings = {**SITE_SETTINGS, **overrides}
    return ENVIRONMENT.get_template(edge.SITE_FILES[name]).render(
        tls=tls_on, static_files=static_files, cloudflare_ranges=SHIPPED_RANGES.networks,
        cloudflare_ranges_taken=SHIPPED_RANGES.taken, **settings)


@pytest.mark.parametrize("tls_on", [True, False])
@pytest.mark.parametrize("name", sorted(edge.SITE_FILES))
def test_template_renders_from_the_settings_the_task_passes(name, tls_on):
    text = render(name, tls_on)
    assert "{{" not in text and "{%" not in text


def servers(site: str) -> dict[str, str]:
    """Each server block of the site by its first `listen` line, e.g. {"listen 80 default_server": ...}."""
    blocks = site.split("\nserver {")[1:]
    return {block.split("listen ", 1)[1].split(";", 1)[0]: block for block in blocks}


def test_with_tls_port_80_only_answers_challenges_and_redirects():
    site = render("app.conf", tls_on=True)
    http_server = servers(site)["80"]
    assert "acme-challenge.inc" in http_server
    assert "return 301 https://$host$request_uri;" in http_server
    assert "app-locations.inc" not in http_server and "app-locations.inc" in servers(site)["443 ssl"]


@pytest.mark.parametrize("tls_on", [True, False])
def test_names_not_served_go_to_a_catch_all_default_server(tls_on):
    blocks = servers(render("app.conf", tls_on=tls_on))
    defaults = sorted(name for name in blocks if "default_server" in name)
    assert defaults == (["443 ssl default_server", "80 default_server"] if tls_on else ["80 default_server"])
    for name in defaults:
        assert "server_name _;" in blocks[name] and "app-locations.inc" not in blocks[name]
    # Every server answers nginx's own errors in JSON and waits on clients as group_data says.
    for block in blocks.values():
        assert "json-errors.inc;" in block and "client-limits.inc;" in block


def test_static_files_location_only_when_the_image_has_them():
    assert "location /static/" in render("app-locations.inc", tls_on=True)
    assert "location /static/" not in render("app-locations.inc", tls_on=True, static_files=False)


def test_without_tls_nothing_listens_on_443():
    site = render("app.conf", tls_on=False)
    assert "443" not in site and "tls.inc" not in site and "app-locations.inc" in site


@pytest.mark.parametrize(("include_subdomains", "preload", "value"), [
    (False, False, "max-age=63072000"),
    (True, False, "max-age=63072000; includeSubDomains"),
    (True, True, "max-age=63072000; includeSubDomains; preload"),
])
def test_hsts_options(include_subdomains, preload, value):
    settings = {**SITE_SETTINGS, "hsts_include_subdomains": include_subdomains, "hsts_preload": preload}
    text = ENVIRONMENT.get_template("http.conf.j2").render(tls=True, **settings)
    assert f'https "{value}";' in text


PLAN = tls.tls_plan("letsencrypt", ["api.example.com"], "ops@example.com", "staging", "/data")


@pytest.mark.parametrize("issued", [True, False])
def test_the_certificate_include_staples_nothing(issued):
    # Let's Encrypt's certificates name no OCSP responder; nginx would warn on every reload.
    text = ENVIRONMENT.get_template(certificates.CERTIFICATE_TEMPLATE.name).render(
        **tls.nginx_certificate(PLAN, issued=issued))
    base = "/etc/letsencrypt/live/api.example.com" if issued else "/etc/letsencrypt/onehost-placeholder"
    assert f"ssl_certificate {base}/fullchain.pem;" in text
    assert f"ssl_certificate_key {base}/privkey.pem;" in text
    assert "ssl_stapling" not in text and "ssl_trusted_certificate" not in text


def test_the_switch_file_is_not_one_of_ours():
    # upstream.inc belongs to the blue/green switch; the deploy writes it only when it is missing.
    assert "upstream.inc" not in edge.SITE_FILES


def test_cloudflare_mode_trusts_cf_connecting_ip_from_each_shipped_range_only():
    text = render("00-http.conf", tls_on=True, cloudflare=True)
    trusted = [line.split()[1].rstrip(";") for line in text.splitlines() if line.startswith("set_real_ip_from")]
    assert trusted == list(SHIPPED_RANGES.networks)
    assert "real_ip_header CF-Connecting-IP;" in text
    assert "set_real_ip_from" not in render("00-http.conf", tls_on=True, cloudflare=False)


def test_the_shipped_cloudflare_list_has_its_date_and_both_families():
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", SHIPPED_RANGES.taken)
    versions = {ipaddress.ip_network(network).version for network in SHIPPED_RANGES.networks}
    assert versions == {4, 6}


@pytest.mark.parametrize(("text", "message"), [
    ("173.245.48.0/20\n", "no '# taken: YYYY-MM-DD' line"),
    ("# taken: 2026-11-25\n173.245.48.0/33\n", "'173.245.48.0/33' is not an address range"),
    ("# taken: 2026-11-25\n", "lists no address ranges"),
])
def test_a_broken_cloudflare_list_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        cloudflare.parse_ranges(text, "cloudflare-ips.txt")


def test_the_nginx_image_follows_the_stable_line_on_the_stand_ins_debian():
    # nginx numbers its stable lines with an even minor version, mainline with an odd one
    # (https://www.nginx.com/blog/nginx-1-18-1-19-released/#NGINX-Versioning-Explained); the
    # official image tags a line <major>.<minor>-<debian suite> (nginx/docker-nginx
    # generate-stackbrew-library.sh). The local stand-in is built from the same Debian suite.
    repository, tag = GROUP_DATA["nginx_image"].split(":")
    match = re.fullmatch(r"(\d+)\.(\d+)-([a-z]+)", tag)
    assert repository == "nginx" and match, tag
    assert int(match[2]) % 2 == 0, f"{tag} is a mainline (odd) version"
    assert match[3] == base_images.SUITE
