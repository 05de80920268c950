"""The edge (nginx) by behaviour, through the test instance's port 80: security headers on every
response, JSON error bodies (nginx's own 400, 413 and 421 too), names the host does not serve
refused before the app, the rate limit on the app's routes (health checks and static files
exempt), the client's Host with its port reaching the app, the client timeouts, gzip for JSON,
and JSON access log lines.

Each test leaves the instance as it found it: the 502 test restores upstream.inc (in a
`finally`), the rate limit test waits until the limit has recovered.
"""

import gzip
import http.client
import json
import runpy
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from onehost.commands import switch
from onehost.commands.compose_commands import reload_nginx
from onehost.local.instance import wait_until
from onehost.paths import REPO_ROOT
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
EDGE_DIR = f"{GROUP_DATA['data_dir']}/stacks/{switch.EDGE_PROJECT}"
UPSTREAM = f"{EDGE_DIR}/conf.d/{switch.UPSTREAM_FILE}"
APP_PORT = GROUP_DATA["app_port"]
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
# The app's HTML (Django's own 404 page, the admin) gets the policy its pages need; every other
# answer the strict one (deploy/group_data/all.py; tests/host/test_browser_csp.py loads the pages).
STRICT_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Features a JSON API never needs; each must be denied (an empty allowlist).
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def fetch(instance, path: str, method: str = "GET", body: dict | None = None,
          headers: dict | None = None, timeout: float = 10) -> Response:
    """One request on a fresh connection; errors are answers too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{instance.config.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


def assert_security_headers(response: Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_all(name) == [value], (response.status, name, dict(response.headers))
    # nginx's own answers are JSON (json-errors.inc) or its redirects' small HTML page.
    html_from_the_app = (response.headers.get("Content-Type", "").startswith("text/html")
                         and not 300 <= response.status < 400)
    policies = response.headers.get_all("Content-Security-Policy")
    assert policies and len(policies) == 1, (response.status, dict(response.headers))
    if html_from_the_app:
        assert policies[0] != STRICT_POLICY and "frame-ancestors 'none'" in policies[0], policies
    else:
        assert policies == [STRICT_POLICY], (response.status, dict(response.headers))
    policy = response.headers.get_all("Permissions-Policy")
    assert policy and len(policy) == 1, (response.status, dict(response.headers))
    directives = {d.strip().split("=", 1)[0]: d.strip().split("=", 1)[1] for d in policy[0].split(",")}
    for feature in DENIED_FEATURES:
        assert directives.get(feature) == "()", (feature, policy)
    # No version in the Server header.
    assert response.headers.get("Server") == "nginx", response.headers.get("Server")


def assert_json_error(response: Response, status: int) -> None:
    assert response.status == status, (response.status, response.body)
    assert response.headers.get_content_type() == "application/json"
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == status and body["error"], body
    assert_security_headers(response)


def point_nginx_at(instance, target: str) -> None:
    """With the switch's own commands: upstream.inc replaced atomically, then a reload."""
    instance.inner(*switch.write_upstream(f"{EDGE_DIR}/conf.d", target, APP_PORT))
    reload_edge(instance)


def put_upstream_back(instance, original: str) -> None:
    """upstream.inc exactly as it was (the socket layout's fixed line), then a reload."""
    instance.inner(*switch.replace_upstream(f"{EDGE_DIR}/conf.d", original))
    reload_edge(instance)


def reload_edge(instance) -> None:
    instance.inner(*reload_nginx(switch.EDGE_PROJECT, f"{EDGE_DIR}/compose.yaml", f"{EDGE_DIR}/stack.env"))


@pytest.mark.parametrize("path, status", [("/health/", 200), ("/no-such-path/", 404)])
def test_security_headers_on_answers_of_the_app(test_instance, deployed, path, status):
    response = fetch(test_instance, path)
    assert response.status == status
    assert_security_headers(response)


def test_app_unreachable_is_a_json_502_with_the_headers(test_instance, deployed):
    original = test_instance.inner("cat", UPSTREAM).stdout
    try:
        point_nginx_at(test_instance, "app-nowhere-app-1")
        # The reload is asynchronous: new workers take over within moments. Each try carries
        # its own marker, so the log line looked up below is the 502's, not an earlier 200's.
        def bad_gateway():
            marker = uuid.uuid4().hex
            response = fetch(test_instance, f"/api/events/?log-check={marker}")
            return (response, marker) if response.status == 502 else None

        response, marker = wait_until(bad_gateway, "a 502 from nginx", 20)
        assert_json_error(response, 502)
        # The word the stack's metric filter counts 5xx answers by (deploy/aws/stack.yaml).
        assert access_log_entry(test_instance, marker)["status_class"] == "server_error"
    finally:
        put_upstream_back(test_instance, original)
    assert test_instance.inner("cat", UPSTREAM).stdout == original
    test_instance.wait_for_health(timeout=30)
    assert fetch(test_instance, "/api/events/").status == 200


RATE = int(GROUP_DATA["api_rate_limit"].removesuffix("r/s"))
BURST = int(GROUP_DATA["api_rate_limit_burst"])
# A route of the app outside /api/: Django's own 404 page, from the app (not nginx's).
OUTSIDE_THE_API = "/outside-the-api/"


def flood(instance, path: str, count: int) -> tuple[list[int], Response | None]:
    """Up to `count` requests to `path`, 8 at a time, stopping at the first 429: the statuses,
    and the first 429 (None when nothing was refused)."""
    limited, statuses, lock, first_429 = threading.Event(), [], threading.Lock(), []

    def one(_):
        if limited.is_set():
            return
        response = fetch(instance, path)
        with lock:
            statuses.append(response.status)
            if response.status == 429 and not first_429:
                first_429.append(response)
                limited.set()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(count)))
    return statuses, (first_429 or [None])[0]


def wait_until_the_limit_recovers(instance, path: str, answer: int) -> None:
    """`path` answers again once the bucket drains (about burst / rate seconds). Polling does not
    delay that: a refused request leaves the bucket as it was (nginx/nginx
    src/http/modules/ngx_http_limit_req_module.c, ngx_http_limit_req_lookup returns NGX_BUSY
    before it stores the new excess). Then the bucket is left empty for the tests after this
    one: its fill cannot be read without spending it, and nginx drains it at `rate` a second, so
    it is empty burst / rate seconds after the request just accepted (limit_req's leaky bucket,
    nginx.org/en/docs/http/ngx_http_limit_req_module.html)."""
    wait_until(lambda: fetch(instance, path).status == answer, f"{path} after its rate limit",
               timeout=30, interval=0.2)
    drained_at = time.monotonic() + BURST / RATE
    wait_until(lambda: time.monotonic() >= drained_at, "nginx's request bucket to drain", timeout=BURST / RATE + 5,
               interval=0.1)


@pytest.mark.parametrize("path, answer", [("/api/events/", 200), (OUTSIDE_THE_API, 404)])
def test_every_route_of_the_app_is_rate_limited_with_a_json_429(test_instance, deployed, path, answer):
    marker = uuid.uuid4().hex
    assert fetch(test_instance, f"{path}?limit-check={marker}").status == answer
    assert access_log_entry(test_instance, marker)["upstream_status"] == str(answer)   # the app's answer
    # Bounded: at most 8 x the burst, stopping at the first 429.
    statuses, first_429 = flood(test_instance, path, 8 * BURST)
    assert first_429, f"no 429 in {len(statuses)} requests: {sorted(set(statuses))}"
    assert set(statuses) <= {answer, 429}, sorted(set(statuses))
    assert statuses.count(answer) >= BURST - 1   # the burst is served before anything is refused
    assert_json_error(first_429, 429)
    wait_until_the_limit_recovers(test_instance, path, answer)


def test_health_checks_and_static_files_are_never_rate_limited(test_instance, deployed):
    manifest = fetch(test_instance, "/static/staticfiles.json")
    assert manifest.status == 200, manifest.body
    hashed = next(name for name in manifest.json()["paths"].values() if name.endswith(".css"))
    # This client is over its limit first; then each exempt path gets far more than a burst.
    # /health/: the deploy's checks (curl on the host, through nginx), the switch, `onehost
    # hosts`, monitors and load balancers poll it.
    _, first_429 = flood(test_instance, OUTSIDE_THE_API, 8 * BURST)
    assert first_429, "the app's routes were not limited"
    for path in ("/health/", f"/static/{hashed}", "/static/staticfiles.json"):
        statuses, refused = flood(test_instance, path, 8 * BURST)
        assert refused is None and set(statuses) == {200}, (path, sorted(set(statuses)))
    wait_until_the_limit_recovers(test_instance, OUTSIDE_THE_API, 404)


@pytest.mark.parametrize("name", GROUP_DATA["server_names"])
def test_the_app_builds_absolute_urls_with_the_port_the_client_used(test_instance, deployed, name):
    # DRF's API root links each list with request.build_absolute_uri, which Django builds from the
    # Host header (HttpRequest.get_host, django/http/request.py); it checks only the name against
    # ALLOWED_HOSTS (the deploy's server_names, no port), so the port passes.
    port = test_instance.config.http_port
    root = fetch(test_instance, "/api/", headers={"Host": f"{name}:{port}"})
    assert root.status == 200, root.body
    assert root.json()["events"] == f"http://{name}:{port}/api/events/"


def test_the_app_gets_the_name_nginx_chose_when_the_host_header_names_another(test_instance, deployed):
    # nginx picks the server by the request line's name before the Host header
    # (https://nginx.org/en/docs/http/ngx_http_core_module.html#var_host): the app must get that
    # name, not the header's, or an app with ALLOWED_HOSTS = "*" would build links to it.
    port = test_instance.config.http_port
    response = raw_exchange(test_instance, (f"GET http://localhost/api/ HTTP/1.1\r\n"
                                            f"Host: unknown.example:{port}\r\nConnection: close\r\n\r\n").encode())
    assert response.status == 200, response.body
    assert response.json()["events"] == "http://localhost/api/events/"


def test_json_is_gzipped_for_clients_that_accept_it(test_instance, deployed):
    for number in range(3):
        created = fetch(test_instance, "/api/events/", "POST", {
            "title": f"Long event {number}", "description": "Lorem ipsum dolor sit amet. " * 60,
            "happened_at": "2000-01-01T00:00:00Z"})
        assert created.status == 201, created.body
    compressed = fetch(test_instance, "/api/events/", headers={"Accept-Encoding": "gzip"})
    assert compressed.status == 200
    assert compressed.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in compressed.headers.get("Vary", "")
    listing = json.loads(gzip.decompress(compressed.body))
    assert listing["count"] >= 3
    plain = fetch(test_instance, "/api/events/")
    assert plain.headers.get("Content-Encoding") is None
    assert len(compressed.body) < len(plain.body) / 2
    assert_security_headers(compressed)


def access_log_entry(instance, marker: str) -> dict:
    """The JSON access log line of the request that carried `marker`."""
    def logged():
        output = instance.inner("docker", "logs", "--tail", "500", "edge-nginx-1").stdout
        return next((line for line in output.splitlines() if marker in line), None)

    return json.loads(wait_until(logged, "the request's access log line", 20))


def test_access_log_lines_are_json_with_the_request_and_upstream(test_instance, deployed):
    marker = uuid.uuid4().hex
    response = fetch(test_instance, f"/health/?log-check={marker}",
                     headers={"User-Agent": f"onehost-edge-test/{marker}"})
    assert response.status == 200
    entry = access_log_entry(test_instance, marker)
    assert entry["method"] == "GET"
    assert entry["uri"] == f"/health/?log-check={marker}"
    assert entry["status"] == 200                          # a number: filters compare it
    assert entry["status_class"] == "ok"
    assert entry["user_agent"] == f"onehost-edge-test/{marker}"
    assert entry["upstream_status"] == "200"
    assert float(entry["upstream_response_time"]) >= 0
    assert isinstance(entry["request_time"], (int, float))
    assert isinstance(entry["bytes"], int) and entry["bytes"] > 0
    assert len(entry["request_id"]) == 32 and entry["time"]


def test_static_files_come_from_nginx_hashed_ones_cached_for_a_year(test_instance, deployed):
    # Django's manifest maps each collected file to its content-hashed name.
    manifest = fetch(test_instance, "/static/staticfiles.json")
    assert manifest.status == 200, manifest.body
    original, hashed = next((name, hashed) for name, hashed in manifest.json()["paths"].items()
                            if name.endswith(".css"))
    marker = uuid.uuid4().hex
    response = fetch(test_instance, f"/static/{hashed}?static-check={marker}")
    assert response.status == 200
    assert response.headers.get_content_type() == "text/css"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert_security_headers(response)
    assert access_log_entry(test_instance, marker)["upstream_status"] == ""   # not the app
    unhashed = fetch(test_instance, f"/static/{original}")
    assert unhashed.status == 200 and unhashed.headers["Cache-Control"] == "public, max-age=3600"
    assert fetch(test_instance, "/static/no-such-file.css").status == 404


def test_an_image_without_static_files_is_refused_before_the_switch(test_instance, deployed, deployer):
    no_static = f"{APP_REPOSITORY}:test-no-static"
    subprocess.run(["docker", "tag", APP_IMAGE, no_static], check=True)
    current = test_instance.readlink("/data/releases/current")
    result = deployer.run({"image": no_static, "app_static_dir": "/app/no-such-dir"}, check=False)
    assert result.returncode != 0
    assert (f"the image {no_static} has no /app/no-such-dir: run collectstatic in its build"
            in result.stdout + result.stderr)
    assert test_instance.readlink("/data/releases/current") == current
    assert fetch(test_instance, "/health/").status == 200


def raw_exchange(instance, request: bytes, timeout: float = 10) -> Response:
    """Bytes sent as they are (a request urllib would refuse to write), the answer parsed."""
    with socket.create_connection(("127.0.0.1", instance.config.http_port), timeout=timeout) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return Response(response.status, response.headers, response.read())


def test_a_name_the_host_does_not_serve_gets_a_json_421_before_the_app(test_instance, deployed):
    marker = uuid.uuid4().hex
    response = fetch(test_instance, f"/api/events/?host-check={marker}", headers={"Host": "unknown.example"})
    assert_json_error(response, 421)
    entry = access_log_entry(test_instance, marker)
    assert (entry["host"], entry["upstream_status"]) == ("unknown.example", "")   # the app never saw it
    # A listed name (the deploy's health check sends server_names[0]) still reaches the app.
    assert fetch(test_instance, "/health/", headers={"Host": GROUP_DATA["server_names"][0]}).status == 200


def test_a_body_over_the_limit_gets_a_json_413(test_instance, deployed):
    limit = int(GROUP_DATA["client_max_body_size"].removesuffix("m")) * 1024 * 1024
    # nginx answers from the declared length, before reading the body.
    response = raw_exchange(test_instance, (f"POST /api/events/ HTTP/1.1\r\nHost: localhost\r\n"
                                            "Content-Type: application/json\r\n"
                                            f"Content-Length: {limit + 1}\r\n\r\n").encode())
    assert_json_error(response, 413)


@pytest.mark.parametrize("request_bytes", [
    b"GET /health/ HTTP/1.1\r\n\r\n",                                   # HTTP/1.1 without Host
    b"GET /health/ HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n",  # a broken header line
])
def test_a_malformed_request_gets_a_json_400(test_instance, deployed, request_bytes):
    assert_json_error(raw_exchange(test_instance, request_bytes), 400)


def test_a_client_that_stalls_in_its_header_is_cut_off_at_the_header_timeout(test_instance, deployed):
    timeout = int(GROUP_DATA["client_header_timeout"].removesuffix("s"))
    with socket.create_connection(("127.0.0.1", test_instance.config.http_port), timeout=timeout + 10) as connection:
        connection.sendall(b"GET /health/ HTTP/1.1\r\nHost: localhost\r\n")   # and never the blank line
        started = time.monotonic()
        try:
            answer = connection.recv(1024)      # blocks until nginx closes (or our deadline passes)
        except ConnectionResetError:
            answer = b""
        waited = time.monotonic() - started
    # nginx closes without an answer (no 408 is sent for a header that never completed).
    assert answer == b"", answer
    assert timeout - 1 <= waited <= timeout + 5, waited
