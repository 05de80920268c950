"""The nginx templates render from the settings' edge section alone: every variable they use is
one the edge task passes, and every template is written to the host."""

import ipaddress
import re
import runpy

import jinja2
import pytest
from pyinfra.api.exceptions import DeployError

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


def test_the_redirect_names_the_public_https_port_when_it_is_not_443():
    """The local instance publishes HTTPS on another port: the redirect keeps the client there."""
    http_server = servers(render("app.conf", tls_on=True, public_https_port=8443))["80"]
    assert "return 301 https://$host:8443$request_uri;" in http_server


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


def locations(text: str) -> dict[str, str]:
    """Each top-level `location` block by its match, e.g. {"/static/": "root /srv; ..."}."""
    blocks, depth, name, body = {}, 0, None, []
    for line in text.splitlines():
        stripped = line.strip()
        if depth == 0 and stripped.startswith("location "):
            name, body = stripped.removeprefix("location ").removesuffix("{").strip(), []
        elif name is not None and not (depth == 1 and stripped == "}"):
            body.append(stripped)
        depth += line.count("{") - line.count("}")
        if depth == 0 and name is not None:
            blocks[name], name = "\n".join(body), None
    return blocks


def nginx_map(text: str, variable: str) -> dict[str, str]:
    """The source -> value lines of the `map ... $variable` block, quotes removed."""
    block = re.search(rf"^map [^\n]* \${variable} {{\n(.*?)^}}", text, re.S | re.M)
    assert block, f"no map for ${variable}"
    return dict((source.strip('"'), value.strip('"')) for source, value in
                (line.strip().rstrip(";").rsplit(None, 1) for line in block[1].splitlines()))


@pytest.mark.parametrize("tls_on", [True, False])
@pytest.mark.parametrize("static_files", [True, False])
def test_every_location_that_reaches_the_app_is_rate_limited_and_static_files_are_not(tls_on, static_files):
    proxy = render("proxy.inc", tls_on)
    burst = SITE_SETTINGS["api_rate_limit_burst"]
    assert f"limit_req zone=app burst={burst} nodelay;" in proxy.splitlines()
    # proxy.inc is the only way to the app: no other template proxies on its own.
    for name in edge.SITE_FILES:
        text = render(name, tls_on, static_files=static_files)
        passes = [line for line in text.splitlines() if line.strip().startswith("proxy_pass ")]
        assert bool(passes) == (name == "proxy.inc"), name
    blocks = locations(render("app-locations.inc", tls_on, static_files=static_files))
    proxied = sorted(name for name, body in blocks.items() if "include /etc/nginx/conf.d/proxy.inc;" in body)
    assert proxied == ["/"]        # /api/, the admin and every other route of the app
    if static_files:
        assert "proxy.inc" not in blocks["/static/"] and "limit_req" not in blocks["/static/"]


# The request lines' URIs ($request_uri, as the client sent them) the rate limit does not count.
@pytest.mark.parametrize(("request_uri", "limited"), [
    ("/health/", False),
    ("/health/?probe=1", False),
    ("/api/events/", True),
    ("/admin/login/?next=/admin/", True),
    ("/", True),
    ("//health/", True),            # reaches Django as another path: not the health check
    ("/health", True),
    ("/health/x", True),
])
def test_the_rate_limit_counts_every_request_to_the_app_but_health_checks(request_uri, limited):
    http = render("00-http.conf", tls_on=True)
    zone = (f"limit_req_zone $app_rate_limit_key zone=app:{SITE_SETTINGS['api_rate_limit_zone_size']} "
            f"rate={SITE_SETTINGS['api_rate_limit']};")
    assert zone in http.splitlines()
    keys = nginx_map(http, "app_rate_limit_key")
    assert keys.pop("default") == "$binary_remote_addr"
    # limit_req does not count a request whose key is empty (ngx_http_limit_req_module.c).
    matched = [value for pattern, value in keys.items() if re.search(pattern.removeprefix("~"), request_uri)]
    assert (matched[:1] or ["$binary_remote_addr"])[0] == ("$binary_remote_addr" if limited else "")


@pytest.mark.parametrize(("host", "http_host", "sent"), [
    ("127.0.0.1", "127.0.0.1:8080", "127.0.0.1:8080"),    # the local instance's published port
    ("api.example.com", "api.example.com", "api.example.com"),
    ("api.example.com", "API.Example.com:8443", "API.Example.com:8443"),
    ("[::1]", "[::1]:8080", "[::1]:8080"),
    ("api.example.com", "", "api.example.com"),          # no Host header (HTTP/1.0 over TLS)
    # `GET http://api.example.com/ HTTP/1.1` with another Host: nginx chose the server by the
    # request line's name, and the app gets that name.
    ("api.example.com", "evil.example:8080", "api.example.com"),
    ("api.example.com", "api.example.com.evil.example", "api.example.com"),
])
def test_the_app_gets_the_clients_host_with_its_port_when_it_names_the_server(host, http_host, sent):
    assert "proxy_set_header Host $app_host;" in render("proxy.inc", tls_on=True).splitlines()
    http = render("00-http.conf", tls_on=True)
    assert 'map "$host $http_host" $app_host {' in http
    choices = nginx_map(http, "app_host")
    default = choices.pop("default")
    (pattern, value), = choices.items()
    assert pattern.startswith("~*")       # nginx: a case-insensitive regular expression
    chosen = value if re.search(pattern.removeprefix("~*"), f"{host} {http_host}", re.I) else default
    assert chosen.replace("$http_host", http_host).replace("$host", host) == sent


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
    # The paths end in an (empty) variable: nginx loads the certificate per handshake, so a renewal
    # needs no reload (tls-certificate.inc.j2).
    assert f"ssl_certificate {base}/fullchain.pem$certificate_per_handshake;" in text
    assert f"ssl_certificate_key {base}/privkey.pem$certificate_per_handshake;" in text
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


# --- Content-Security-Policy --------------------------------------------------------------------

HTML_POLICY, STRICT_POLICY = SITE_SETTINGS["content_security_policy_html"], SITE_SETTINGS["content_security_policy"]


def policy_map(http: str) -> tuple[list[tuple[str, str]], str]:
    """The $content_security_policy map: its (pattern, policy) lines in order, and its default.
    Each policy is one double-quoted nginx string (it holds spaces and ;)."""
    block = re.search(r"^map \"(.*?)\" \$content_security_policy \{\n(.*?)^\}", http, re.S | re.M)
    assert block, "no map for $content_security_policy"
    lines = [re.fullmatch(r'\s*(\S+|"[^"]*")\s+"([^"$\\{}]*)";', line) for line in block[2].splitlines()]
    assert all(lines), block[2]
    choices = [(line[1].strip('"'), line[2]) for line in lines]
    default = dict(choices).pop("default")
    return [(pattern, value) for pattern, value in choices if pattern != "default"], default


def chosen_policy(http: str, upstream_status: str, content_type: str) -> str:
    """The policy nginx's map picks: the first regular expression that matches, else the default
    (https://nginx.org/en/docs/http/ngx_http_map_module.html#map)."""
    source = re.search(r"^map \"(.*?)\" \$content_security_policy", http, re.M)[1]
    assert source == "$upstream_status $sent_http_content_type"
    patterns, default = policy_map(http)
    text = f"{upstream_status} {content_type}"
    for pattern, value in patterns:
        assert pattern.startswith("~*")   # case-insensitive: a Content-Type may be TEXT/HTML
        if re.search(pattern.removeprefix("~*"), text, re.I):
            return value
    return default


@pytest.mark.parametrize(("upstream_status", "content_type", "policy"), [
    ("200", "text/html; charset=utf-8", "html"),   # the admin, DRF's browsable API
    ("200", "text/html;charset=utf-8", "html"),
    ("404", "text/html", "html"),                  # Django's own error pages
    ("200", "Text/HTML; charset=utf-8", "html"),
    ("200", "application/json", "strict"),
    ("200", "application/vnd.api+json", "strict"),
    ("200", "text/css", "strict"),
    ("502", "application/json", "strict"),         # json-errors.inc, the app unreachable
    ("", "text/html", "strict"),                   # nginx's own pages (its 301 to HTTPS)
    ("", "application/json", "strict"),            # json-errors.inc without the app
    ("", "text/css", "strict"),                    # /static/, served by nginx
    ("200", "", "strict"),                         # no Content-Type at all
    ("200", "text/htmlx", "strict"),
])
def test_html_the_app_answers_gets_the_html_policy_and_everything_else_the_strict_one(
        upstream_status, content_type, policy):
    http = render("00-http.conf", tls_on=True)
    wanted = HTML_POLICY if policy == "html" else STRICT_POLICY
    assert chosen_policy(http, upstream_status, content_type) == wanted


def test_every_server_sends_the_chosen_policy_once():
    headers = render("security-headers.inc", tls_on=True).splitlines()
    sent = [line for line in headers if line.startswith("add_header Content-Security-Policy ")]
    assert sent == ["add_header Content-Security-Policy $content_security_policy always;"]


def test_the_policies_are_written_as_given_each_in_one_quoted_string():
    html = "default-src 'self'; img-src 'self' https://img.example.com; frame-ancestors 'none'"
    strict = "default-src 'none'; frame-ancestors 'none'; report-uri /csp-reports/"
    http = render("00-http.conf", tls_on=False, content_security_policy_html=html, content_security_policy=strict)
    patterns, default = policy_map(http)
    assert [value for _, value in patterns] == [html] and default == strict


def test_the_default_policies_let_the_admin_and_the_browsable_api_load_their_own_files():
    html = dict(directive.strip().split(" ", 1) for directive in HTML_POLICY.split(";"))
    assert html["default-src"] == "'none'" and html["frame-ancestors"] == "'none'"
    for directive in ("script-src", "style-src", "img-src", "font-src", "connect-src", "form-action"):
        assert html[directive] == "'self'", directive
    # No inline code or eval: the admin and DRF load theirs from files.
    assert "unsafe" not in HTML_POLICY
    assert STRICT_POLICY == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("policy", [
    "default-src 'none'",
    "default-src 'none';",
    "default-src 'self';  img-src 'self' data: https://*.example.com ; frame-ancestors 'none'",
    "script-src 'self' 'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='",
    "upgrade-insecure-requests; report-uri /csp-reports/?a=1&b=2",
])
@pytest.mark.parametrize("key", ["content_security_policy_html", "content_security_policy"])
def test_a_policy_is_taken_as_given(key, policy):
    assert EdgeSettings.from_values({**GROUP_DATA, key: policy}).template_values()[key] == policy


@pytest.mark.parametrize("policy", [
    'default-src "self"',                          # would end nginx's quoted string
    "default-src 'self'\nframe-ancestors 'none'",  # a line break in a header
    "default-src 'self' $host",                    # nginx would expand it
    "default-src 'self'; }",
    "default-src \\'self\\'",
    "'self'",                                      # no directive name
    "",
    " ; ",
    None,
    ["default-src 'self'"],
])
@pytest.mark.parametrize("key", ["content_security_policy_html", "content_security_policy"])
def test_a_policy_nginx_cannot_send_is_refused_with_the_key_and_an_example(key, policy):
    with pytest.raises(DeployError, match=(rf"^{key} is .*: give a Content-Security-Policy, directives "
                                           rf"separated by ; .* e\.g\. --data \"{key}=default-src 'none'.*\"$")):
        EdgeSettings.from_values({**GROUP_DATA, key: policy})
