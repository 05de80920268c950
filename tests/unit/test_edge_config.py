"""The nginx templates render from group_data alone: every variable they use is a key the edge
task passes, and every template is written to the host."""

import ipaddress
import re
import runpy

import jinja2
import pytest

from deploy.tasks import certificates, edge
from onehost import cloudflare, tls
from onehost.paths import REPO_ROOT

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
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
    settings = {key: GROUP_DATA[key] for key in edge.SITE_SETTINGS}
    settings.update(overrides)
    return ENVIRONMENT.get_template(edge.SITE_FILES[name]).render(
        tls=tls_on, static_files=static_files, cloudflare_ranges=SHIPPED_RANGES.networks,
        cloudflare_ranges_taken=SHIPPED_RANGES.taken, **settings)


@pytest.mark.parametrize("tls_on", [True, False])
@pytest.mark.parametrize("name", sorted(edge.SITE_FILES))
def test_template_renders_from_the_settings_the_task_passes(name, tls_on):
    text = render(name, tls_on)
    assert "{{" not in text and "{%" not in text


def test_with_tls_port_80_only_answers_challenges_and_redirects():
    site = render("app.conf", tls_on=True)
    http_server = site.split("listen 443")[0]
    assert "acme-challenge.inc" in http_server
    assert "return 301 https://$host$request_uri;" in http_server
    assert "app-locations.inc" not in http_server and "app-locations.inc" in site


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
    settings = {key: GROUP_DATA[key] for key in edge.SITE_SETTINGS}
    settings.update(hsts_include_subdomains=include_subdomains, hsts_preload=preload)
    text = ENVIRONMENT.get_template("http.conf.j2").render(tls=True, **settings)
    assert f'https "{value}";' in text


PLAN = tls.tls_plan("letsencrypt", ["api.example.com"], "ops@example.com", "staging", "/data")


def test_the_certificate_include_names_the_issued_certificate_with_stapling():
    text = ENVIRONMENT.get_template(certificates.CERTIFICATE_TEMPLATE.name).render(
        **tls.nginx_certificate(PLAN, issued=True))
    assert "ssl_certificate /etc/letsencrypt/live/api.example.com/fullchain.pem;" in text
    assert "ssl_stapling on;" in text
    assert "ssl_trusted_certificate /etc/letsencrypt/live/api.example.com/chain.pem;" in text


def test_the_placeholder_is_served_without_stapling():
    text = ENVIRONMENT.get_template(certificates.CERTIFICATE_TEMPLATE.name).render(
        **tls.nginx_certificate(PLAN, issued=False))
    assert "ssl_certificate /etc/letsencrypt/onehost-placeholder/fullchain.pem;" in text
    assert "ssl_stapling" not in text


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
