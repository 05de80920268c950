"""TLS at the edge, by behaviour, on an instance of its own with a real ACME server.

The instance is deployed with tls=letsencrypt for timewarp.test; pebble issues the certificate
after a real HTTP-01 validation against the instance's nginx (tests/host/acme.py). Then:
Mozilla's intermediate profile graded by sslyze, the redirect, headers and HSTS, names the host
does not serve refused in the handshake, no OCSP stapling, session tickets, a forced renewal
under load, a new ACME directory replacing the certificate, CloudFlare's "Full (strict)" named
before certbot runs, a renewal while the ACME server is down, and a replaced instance with the
same /data. The tests run in file order: the last two stop the ACME server.
"""

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys

import pytest
from cryptography import x509

from onehost.local import instance
from onehost.local.instance import wait_until
from onehost.local.loadgen import LoadGenerator, open_connection
from tests.host.acme import DIRECTORY_URL, AcmeServer
from tests.host.conftest import APP_IMAGE, Deployer, Instance
from tests.host.test_edge import (
    UPSTREAM,
    Response,
    assert_json_error,
    assert_security_headers,
    point_nginx_at,
    put_upstream_back,
)
from tests.host.test_no_reload import nginx_processes

# ONEHOST_TEST_TLS_INSTANCE, ..._SSH_PORT, ..._HTTP_PORT and ..._HTTPS_PORT replace these, so
# two host tiers can run side by side.
TLS_INSTANCE_ENV = {
    name: os.environ.get(name.replace("ONEHOST_", "ONEHOST_TEST_TLS_", 1), value)
    for name, value in {
        "ONEHOST_INSTANCE": "onehost-tls-test",
        "ONEHOST_SSH_PORT": "23222",
        "ONEHOST_HTTP_PORT": "23080",
        "ONEHOST_HTTPS_PORT": "23443",
    }.items()
}
DOMAIN = "timewarp.test"
LIVE_CERTIFICATE = f"/data/letsencrypt/live/{DOMAIN}/fullchain.pem"
RENEWAL_CONFIG = f"/data/letsencrypt/renewal/{DOMAIN}.conf"
HSTS = "max-age=63072000"


class TlsHost(Instance):
    """The TLS instance (commands inside it as for the shared one), its ACME server and deploys."""

    def __init__(self, config: instance.InstanceConfig, acme: AcmeServer, deployer: Deployer, data: dict,
                 roots: str, first_deploy: subprocess.CompletedProcess):
        super().__init__(config)
        self.acme, self.deployer, self.data = acme, deployer, data
        self.roots = roots               # a file with pebble's root CA
        self.first_deploy = first_deploy

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.roots)

    def https(self, path: str, host: str = DOMAIN) -> Response:
        """GET over HTTPS to the instance with the domain's SNI (and Host unless given), checked
        against pebble's root."""
        return _exchange(open_connection(DOMAIN, self.config.https_port, 10, self.context(), "127.0.0.1"),
                         path, {"Host": host})

    def http(self, path: str, host: str = DOMAIN) -> Response:
        return _exchange(http.client.HTTPConnection("127.0.0.1", self.config.http_port, timeout=10),
                         path, {"Host": host})

    def served_certificate(self, server_name: str = DOMAIN) -> x509.Certificate:
        with socket.create_connection(("127.0.0.1", self.config.https_port), timeout=10) as raw:
            with self.context().wrap_socket(raw, server_hostname=server_name) as tls:
                return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))

    def nginx_started_at(self) -> str:
        return self.inner("docker", "inspect", "--format", "{{.State.StartedAt}}", "edge-nginx-1").stdout.strip()


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def _exchange(connection: http.client.HTTPConnection, path: str, headers: dict | None = None) -> Response:
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def tls_host(test_instance, tmp_path_factory):
    environ = {**os.environ, **TLS_INSTANCE_ENV}
    config = instance.InstanceConfig.from_environment(environ)
    instance.reset(config)
    instance.up(config)
    acme = AcmeServer(config.name, tmp_path_factory.mktemp("acme"))
    acme.start()
    data = {"image": APP_IMAGE, "tls": "letsencrypt", "server_names": json.dumps([DOMAIN]),
            "letsencrypt_email": f"ops@{DOMAIN}", "acme_server": DIRECTORY_URL,
            "acme_ca_bundle": str(acme.ca_bundle)}
    deployer = Deployer(environ)
    first_deploy = deployer.run(data)
    roots = tmp_path_factory.mktemp("roots") / "pebble-root.pem"
    roots.write_text(acme.issuing_roots())
    yield TlsHost(config, acme, deployer, data, str(roots), first_deploy)
    acme.stop()
    if not os.environ.get("ONEHOST_KEEP_TEST_INSTANCE"):
        instance.reset(config)


def test_the_first_deploy_gets_a_certificate_for_the_domain(tls_host):
    assert f"Get a certificate for {DOMAIN} from {DIRECTORY_URL}" in output_of(tls_host.first_deploy)
    assert served_names(tls_host) == [DOMAIN]   # verified against pebble's root and the name
    response = tls_host.https("/health/")
    assert response.status == 200 and response.json()["status"] == "ok"


def test_nginx_started_on_the_placeholder_and_was_reloaded_not_restarted(tls_host):
    # nginx was up before the certificate existed (serving the placeholder, answering the
    # challenge), and serves the issued one without having been restarted since.
    started = tls_host.nginx_started_at()
    issued = tls_host.inner("stat", "--format", "%.9Y", "--dereference", LIVE_CERTIFICATE).stdout
    started_epoch = tls_host.inner("date", "--date", started, "+%s.%N").stdout
    assert float(started_epoch) < float(issued)
    restarts = tls_host.inner("docker", "inspect", "--format", "{{.RestartCount}}", "edge-nginx-1").stdout
    assert restarts.strip() == "0"


def test_a_second_deploy_does_not_ask_the_acme_server_again(tls_host):
    serial = tls_host.served_certificate().serial_number
    result = tls_host.deployer.run(tls_host.data)
    assert "Get a certificate" not in output_of(result)
    assert tls_host.served_certificate().serial_number == serial


def test_mozilla_intermediate_profile_with_zero_deviations(tls_host, tmp_path):
    report = tmp_path / "sslyze.json"
    result = subprocess.run(
        [sys.executable, "-m", "sslyze", f"{DOMAIN}:{tls_host.config.https_port}{{127.0.0.1}}",
         "--mozilla_config=intermediate", f"--certinfo_ca_file={tls_host.roots}",
         f"--json_out={report}"], capture_output=True, text=True, timeout=180)
    # sslyze exits 0 when it cannot connect: the scan must have completed, and comply.
    scans = json.loads(report.read_text())["server_scan_results"]
    assert [scan["scan_status"] for scan in scans] == ["COMPLETED"], result.stdout
    assert result.returncode == 0, result.stdout
    assert "OK - Compliant" in result.stdout, result.stdout


def test_http_redirects_to_the_same_path_and_query_on_https(tls_host):
    response = tls_host.http("/api/events/?page=2&q=a%20b")
    assert response.status == 301
    # On the port HTTPS is published on: the instance's (a host's is 443, and the URL names none).
    port = tls_host.config.https_port
    assert response.headers["Location"] == f"https://{DOMAIN}:{port}/api/events/?page=2&q=a%20b"
    assert_security_headers(response)
    assert response.headers.get("Strict-Transport-Security") is None


def test_the_acme_challenge_path_is_served_not_redirected(tls_host):
    token = "onehost-test-token"
    path = f"/data/letsencrypt/onehost-webroot/.well-known/acme-challenge/{token}"
    tls_host.inner("sh", "-c", f"mkdir -p {os.path.dirname(path)} && echo key-authorization > {path}")
    try:
        for response in (tls_host.http(f"/.well-known/acme-challenge/{token}"),
                         tls_host.https(f"/.well-known/acme-challenge/{token}")):
            assert (response.status, response.body) == (200, b"key-authorization\n")
        missing = tls_host.http("/.well-known/acme-challenge/no-such-token")
        assert missing.status == 404 and "Location" not in missing.headers
    finally:
        tls_host.inner("rm", "-f", path)


@pytest.mark.parametrize("path, status", [("/health/", 200), ("/no-such-path/", 404)])
def test_security_headers_and_hsts_on_https_answers(tls_host, path, status):
    response = tls_host.https(path)
    assert response.status == status
    assert_security_headers(response)
    assert response.headers.get_all("Strict-Transport-Security") == [HSTS]


def test_a_502_over_https_has_the_headers_and_hsts(tls_host):
    original = tls_host.inner("cat", UPSTREAM).stdout
    try:
        point_nginx_at(tls_host, "app-nowhere-app-1")

        def bad_gateway():
            response = tls_host.https("/api/events/")
            return response if response.status == 502 else None
        response = wait_until(bad_gateway, "a 502 from nginx", timeout=20, interval=0.2)
        assert response.json() == {"error": "bad gateway", "status": 502}
        assert_security_headers(response)
        assert response.headers.get_all("Strict-Transport-Security") == [HSTS]
    finally:
        put_upstream_back(tls_host, original)
    assert tls_host.inner("cat", UPSTREAM).stdout == original
    # The reload is asynchronous too: the app answers again once the new workers took over.
    wait_until(lambda: tls_host.https("/api/events/").status == 200, "the app through nginx again", 20)


def test_a_server_name_the_host_does_not_serve_is_refused_in_the_handshake(tls_host):
    context = tls_host.context()
    context.check_hostname = False      # to send another name, or none at all (a bare address)
    for server_name in ("unknown.example", None):
        with socket.create_connection(("127.0.0.1", tls_host.config.https_port), timeout=10) as raw:
            with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
                context.wrap_socket(raw, server_hostname=server_name)
    assert served_names(tls_host) == [DOMAIN]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_host_header_the_host_does_not_serve_gets_a_json_421(tls_host, scheme):
    # Over HTTPS: our name in the handshake, another in the Host header.
    response = getattr(tls_host, scheme)("/health/", host="unknown.example")
    assert_json_error(response, 421)


def test_nginx_checks_its_configuration_without_an_ocsp_stapling_warning(tls_host):
    # Let's Encrypt's certificates (and pebble's here) name no OCSP responder.
    check = tls_host.inner("docker", "exec", "edge-nginx-1", "nginx", "-t")
    assert "test is successful" in output_of(check)
    assert "ssl_stapling" not in output_of(check) and "warn" not in output_of(check), output_of(check)


def test_tls_1_2_sessions_get_no_ticket(tls_host):
    context = tls_host.context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", tls_host.config.https_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=DOMAIN) as connection:
            assert connection.version() == "TLSv1.2"
            assert not connection.session.has_ticket


def test_a_forced_renewal_swaps_the_certificate_under_load_without_a_failure(tls_host):
    """No reload: keep-alive clients that never retry (half the load) and fresh connections
    fail nothing, nginx's processes stay, and new connections get the new certificate (nginx
    loads it per handshake: tls-certificate.inc)."""
    before = tls_host.served_certificate().serial_number
    processes = nginx_processes(tls_host)
    url = f"https://{DOMAIN}:{tls_host.config.https_port}/health/"
    load = LoadGenerator(url, rate=40, max_seconds=150, persistent_clients=4, connect_to="127.0.0.1",
                         ca_file=tls_host.roots, persistent_retry=False).start()
    try:
        wait_until(lambda: load.snapshot()["ok"] >= 40, "load through nginx", timeout=30, interval=0.2)
        renewal = tls_host.inner("/usr/local/sbin/onehost-certbot-renew", "--force-renewal")
        assert "per handshake; no reload" in renewal.stdout + renewal.stderr
        wait_until(lambda: tls_host.served_certificate().serial_number != before,
                   "the renewed certificate served", timeout=60, interval=0.5)
        sent = load.snapshot()["sent"]
        wait_until(lambda: load.snapshot()["sent"] >= sent + 40,   # a second of load on the new certificate
                   "load on the renewed certificate", timeout=30, interval=0.2)
    finally:
        result = load.stop()
    assert result.failed == 0, result.summary()
    assert result.by_kind["no_retry"]["sent"] > 40 and result.by_kind["fresh"]["sent"] > 40
    assert nginx_processes(tls_host) == processes, "nginx was reloaded or restarted"


# The same pebble under a second directory URL (its listener certificate covers 127.0.0.1 too):
# for certbot and the deploy, another ACME directory, as production is after staging.
ALTERNATE_DIRECTORY = DIRECTORY_URL.replace("localhost", "127.0.0.1")


def served_serial_other_than(tls_host, *serials: int) -> int:
    """The served certificate's serial once it is none of `serials` (a reload takes a moment)."""
    def new_serial():
        serial = tls_host.served_certificate().serial_number
        return serial if serial not in serials else None
    return wait_until(new_serial, "a new certificate served", 30)


def test_a_new_acme_directory_replaces_a_certificate_of_the_same_names(tls_host):
    serial = tls_host.served_certificate().serial_number
    moved = tls_host.deployer.run({**tls_host.data, "acme_server": ALTERNATE_DIRECTORY})
    assert f"is from {DIRECTORY_URL}; acme_server is now {ALTERNATE_DIRECTORY}" in output_of(moved)
    assert f"Get a certificate for {DOMAIN} from {ALTERNATE_DIRECTORY}" in output_of(moved)
    moved_serial = served_serial_other_than(tls_host, serial)
    assert served_names(tls_host) == [DOMAIN]
    # And back: the first directory again replaces the one the second issued.
    back = tls_host.deployer.run(tls_host.data)
    assert f"is from {ALTERNATE_DIRECTORY}; acme_server is now {DIRECTORY_URL}" in output_of(back)
    assert f"Get a certificate for {DOMAIN} from {DIRECTORY_URL}" in output_of(back)
    served_serial_other_than(tls_host, serial, moved_serial)
    assert tls_host.https("/health/").status == 200


def served_names(tls_host, server_name: str = DOMAIN) -> list[str]:
    certificate = tls_host.served_certificate(server_name)
    return sorted(certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                  .value.get_values_for_type(x509.DNSName))


def test_changing_server_names_replaces_the_certificate_on_the_next_deploy(tls_host):
    both = sorted([DOMAIN, f"www.{DOMAIN}"])
    tls_host.deployer.run({**tls_host.data, "server_names": json.dumps(both)})
    assert served_names(tls_host) == both
    assert served_names(tls_host, f"www.{DOMAIN}") == both
    # And back to one name: a certificate without the name dropped.
    tls_host.deployer.run(tls_host.data)
    assert served_names(tls_host) == [DOMAIN]


FAKE_CLOUDFLARE_SITE = """server {
    listen 80;
    return 301 https://$host$request_uri;
}
server {
    listen 443 ssl;
    ssl_certificate /etc/nginx/conf.d/cert.pem;
    ssl_certificate_key /etc/nginx/conf.d/key.pem;
    return 526 "error code: 526";
}
"""


class FakeCloudflare:
    """A name whose DNS (the instance's /etc/hosts) points at a stand-in for CloudFlare's edge with
    "Always Use HTTPS" and SSL/TLS mode "Full (strict)" before the first issuance: plain HTTP is
    redirected to HTTPS, and HTTPS answers 526 (the origin's placeholder is not trusted)."""

    DIRECTORY = "/tmp/fake-cloudflare"
    CONTAINER = "fake-cloudflare"

    def __init__(self, tls_host: TlsHost, name: str):
        self.tls_host, self.name = tls_host, name

    def __enter__(self):
        inner = self.tls_host.inner
        inner("mkdir", "-p", self.DIRECTORY)
        inner("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-days", "1", "-subj", "/CN=cloudflare", "-keyout", f"{self.DIRECTORY}/key.pem",
              "-out", f"{self.DIRECTORY}/cert.pem")
        inner("sh", "-c", f'printf %s "$1" > {self.DIRECTORY}/site.conf', "write-site", FAKE_CLOUDFLARE_SITE)
        image = inner("docker", "inspect", "--format", "{{.Config.Image}}", "edge-nginx-1").stdout.strip()
        inner("docker", "run", "--detach", "--name", self.CONTAINER, "--volume",
              f"{self.DIRECTORY}:/etc/nginx/conf.d:ro", image)
        address = inner("docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                        self.CONTAINER).stdout.strip()
        inner("sh", "-c", f'echo "{address} {self.name}" >> /etc/hosts')
        wait_until(lambda: inner("curl", "--silent", "--output", "/dev/null", "--write-out", "%{http_code}",
                                 f"http://{self.name}/", check=False).stdout == "301",
                   "the stand-in for CloudFlare", 20)
        return self

    def __exit__(self, *exc):
        inner = self.tls_host.inner
        inner("docker", "rm", "--force", self.CONTAINER, check=False)
        # /etc/hosts is a bind mount in a container: rewritten in place, not replaced.
        inner("sh", "-c", f'grep -v " {self.name}$" /etc/hosts > /tmp/hosts.new; cat /tmp/hosts.new > /etc/hosts',
              check=False)
        inner("rm", "-rf", self.DIRECTORY, "/tmp/hosts.new", check=False)


def test_cloudflare_full_strict_before_the_first_issuance_is_named_with_the_fix(tls_host):
    name = f"cf.{DOMAIN}"
    serial = tls_host.served_certificate().serial_number
    try:
        with FakeCloudflare(tls_host, name):
            result = tls_host.deployer.run({**tls_host.data, "server_names": json.dumps([DOMAIN, name])},
                                           check=False)
        assert result.returncode != 0
        output = output_of(result)
        assert f"Let's Encrypt cannot validate {name}: http://{name}/.well-known/acme-challenge/" in output
        assert "(CloudFlare's \"Always Use HTTPS\") and ends in CloudFlare's error 526" in output
        assert 'set SSL/TLS mode to "Full" (not strict) or turn "Always Use HTTPS" off' in output
        # certbot was not asked: the served certificate is the one from before.
        assert tls_host.served_certificate().serial_number == serial
        assert tls_host.https("/health/").status == 200
    finally:
        tls_host.deployer.run(tls_host.data)
    assert served_names(tls_host) == [DOMAIN]


def test_a_failed_renewal_keeps_the_certificate_and_shows_as_failed(tls_host):
    serial = tls_host.served_certificate().serial_number
    # Make the certificate due (as it is 30 days before expiry), with the ACME server down.
    # (A top-level key: it must come before the file's [renewalparams] section.)
    tls_host.inner("sed", "-i", "1i renew_before_expiry = 100 days", RENEWAL_CONFIG)
    tls_host.acme.stop()
    try:
        started = tls_host.inner("systemctl", "start", "onehost-certbot-renew.service", check=False)
        assert started.returncode != 0
        assert tls_host.inner("systemctl", "is-failed", "onehost-certbot-renew.service",
                              check=False).stdout.strip() == "failed"
        journal = tls_host.inner("journalctl", "--unit", "onehost-certbot-renew.service",
                                 "--no-pager", "--output", "cat").stdout
        assert "onehost-certbot-renew: certificate renewal failed" in journal
        assert tls_host.served_certificate().serial_number == serial
        assert tls_host.https("/health/").status == 200
    finally:
        tls_host.inner("sed", "-i", "/^renew_before_expiry = 100 days$/d", RENEWAL_CONFIG)
        tls_host.inner("systemctl", "reset-failed", "onehost-certbot-renew.service", check=False)


def test_a_replaced_instance_with_the_same_data_serves_the_same_certificate(tls_host):
    # The ACME server stays down: the new instance must not need it.
    tls_host.acme.stop()
    serial = tls_host.served_certificate().serial_number
    config = tls_host.config
    # A new host from the image: a new root disk (and Docker storage), the same /data volume.
    subprocess.run(["docker", "rm", "--force", config.name], check=True, capture_output=True)
    subprocess.run(["docker", "volume", "rm", "--force", config.docker_volume], check=True,
                   capture_output=True)
    instance.up(config)
    result = tls_host.deployer.run(tls_host.data)
    assert "Get a certificate" not in output_of(result)
    assert tls_host.served_certificate().serial_number == serial
    assert tls_host.https("/health/").status == 200
