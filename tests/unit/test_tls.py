"""TLS inputs are checked before anything runs; certbot and openssl commands as exact lists."""

import pytest

from onehost.commands import compose_commands, tls

PLAN = tls.tls_plan("letsencrypt", ["api.example.com", "www.example.com"], "ops@example.com",
                    "staging", "/data")


@pytest.mark.parametrize(("names", "message"), [
    ([], "server_names is empty"),
    ("api.example.com", "give a list of domain names"),
    (["api.example.com", "api.example.com"], "listed twice"),
    (["localhost"], "cannot get a certificate"),
    (["203.0.113.10"], "cannot get a certificate"),
    (["*.example.com"], "wildcard"),
    (["example"], "not a valid domain name"),
    (["bad_name.example.com"], "not a valid domain name"),
    (["-api.example.com"], "not a valid domain name"),
    (["api..example.com"], "not a valid domain name"),
    (["api.example.123"], "not a valid domain name"),
    ([f"{'a' * 64}.example.com"], "not a valid domain name"),
    (["API.example.com"], "lower case"),
    ([" api.example.com"], "lower case"),
    ([""], "not a domain name"),
])
def test_bad_server_names_are_refused_with_the_fix(names, message):
    with pytest.raises(tls.TlsError, match=message):
        tls.tls_plan("letsencrypt", names, "ops@example.com", "production", "/data")


def test_without_tls_localhost_and_addresses_are_fine():
    plan = tls.tls_plan("off", ["localhost", "127.0.0.1"], None, "production", "/data")
    assert plan.names == ("localhost", "127.0.0.1") and not plan.enabled


@pytest.mark.parametrize("email", [None, "", "ops", "ops@", "@example.com", "ops@example",
                                   "ops@@example.com", "o ps@example.com", "ops@exa mple.com"])
def test_a_malformed_email_is_refused(email):
    with pytest.raises(tls.TlsError, match="letsencrypt_email"):
        tls.tls_plan("letsencrypt", ["api.example.com"], email, "production", "/data")


def test_unknown_modes_and_acme_servers_are_refused():
    with pytest.raises(tls.TlsError, match="use one of letsencrypt, off"):
        tls.tls_plan("yes", ["api.example.com"], "ops@example.com", "production", "/data")
    with pytest.raises(tls.TlsError, match="acme_server is 'http://acme.example.com/dir'"):
        tls.tls_plan("letsencrypt", ["api.example.com"], "ops@example.com", "http://acme.example.com/dir",
                     "/data")


def test_acme_servers_by_name_or_url():
    assert tls.acme_directory("production") == "https://acme-v02.api.letsencrypt.org/directory"
    assert tls.acme_directory("staging") == "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert tls.acme_directory("https://localhost:14000/dir") == "https://localhost:14000/dir"


def test_paths_on_the_data_volume():
    assert PLAN.cert_name == "api.example.com"
    assert PLAN.live_dir == "/data/letsencrypt/live/api.example.com"
    assert PLAN.webroot == "/data/letsencrypt/onehost-webroot"
    assert PLAN.placeholder_dir == "/data/letsencrypt/onehost-placeholder"


def test_issue_command():
    assert tls.issue_command(PLAN) == [
        "certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
        "--email", "ops@example.com", "--server", "https://acme-staging-v02.api.letsencrypt.org/directory",
        "--config-dir", "/data/letsencrypt", "--work-dir", "/var/lib/letsencrypt",
        "--logs-dir", "/var/log/letsencrypt",
        "--webroot", "--webroot-path", "/data/letsencrypt/onehost-webroot",
        "--cert-name", "api.example.com", "--domains", "api.example.com,www.example.com",
        "--key-type", "ecdsa", "--elliptic-curve", "secp256r1", "--expand"]


def test_a_private_acme_ca_is_trusted_through_the_bundle_on_the_host():
    assert tls.issue_environment(PLAN, with_ca_bundle=True) == {
        "REQUESTS_CA_BUNDLE": "/data/letsencrypt/onehost-acme-ca.pem"}
    assert tls.issue_environment(PLAN, with_ca_bundle=False) == {}


def test_placeholder_command():
    assert tls.placeholder_command(PLAN) == [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "7", "-subj", "/CN=api.example.com",
        "-addext", "subjectAltName=DNS:api.example.com,DNS:www.example.com",
        "-keyout", "/data/letsencrypt/onehost-placeholder/privkey.pem",
        "-out", "/data/letsencrypt/onehost-placeholder/fullchain.pem"]


def test_certificate_names_from_openssl():
    text = "X509v3 Subject Alternative Name: \n    DNS:www.example.com, DNS:api.example.com\n"
    assert tls.certificate_names(text) == ["api.example.com", "www.example.com"]


STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
# What certbot 2.x/5.x writes to renewal/<name>.conf (storage.py make_renewal_configobj).
RENEWAL_CONFIG = f"""# renew_before_expiry = 30 days
version = 5.1.0
archive_dir = /data/letsencrypt/archive/api.example.com
cert = /data/letsencrypt/live/api.example.com/cert.pem
privkey = /data/letsencrypt/live/api.example.com/privkey.pem
chain = /data/letsencrypt/live/api.example.com/chain.pem
fullchain = /data/letsencrypt/live/api.example.com/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 0123456789abcdef0123456789abcdef
authenticator = webroot
webroot_path = /data/letsencrypt/onehost-webroot,
server = {STAGING}
key_type = ecdsa
[[webroot_map]]
api.example.com = /data/letsencrypt/onehost-webroot
"""


def test_the_issuing_directory_is_read_from_certbots_renewal_file():
    assert tls.issuing_directory(RENEWAL_CONFIG) == STAGING
    assert PLAN.renewal_config == "/data/letsencrypt/renewal/api.example.com.conf"
    assert tls.issuing_directory(None) is None
    # A `server` outside [renewalparams] is not certbot's record.
    assert tls.issuing_directory(f"server = {PRODUCTION}\n[renewalparams]\nkey_type = ecdsa\n") is None


BOTH = ["api.example.com", "www.example.com"]


def plan_for(server: str) -> tls.TlsPlan:
    return tls.tls_plan("letsencrypt", BOTH, "ops@example.com", server, "/data")


@pytest.mark.parametrize(("names_on_host", "issued_by", "needed", "replace", "reason"), [
    (None, None, True, False, "no certificate for api.example.com, www.example.com on the host yet"),
    (["api.example.com"], STAGING, True, False, "covers api.example.com, server_names are"),
    (BOTH, PRODUCTION, False, False, "is on the host; certbot renews it"),
    # The path docs/how-to/tls.md advises: staging first, then production. Same names, another directory.
    (BOTH, STAGING, True, True, f"is from {STAGING}; acme_server is now {PRODUCTION}"),
    # No record of the directory (certbot always writes one): keep, never loop on issuance.
    (BOTH, None, False, False, "is on the host"),
])
def test_a_certificate_is_got_for_new_names_or_a_new_acme_directory(names_on_host, issued_by, needed, replace,
                                                                     reason):
    decision = tls.issuance(plan_for("production"), names_on_host, issued_by)
    assert (decision.needed, decision.replace) == (needed, replace)
    assert reason in decision.reason


def test_a_trusted_certificate_is_not_replaced_by_a_staging_one():
    # certbot refuses that too without --break-my-certs (renewal.py _avoid_invalidating_lineage).
    with pytest.raises(tls.TlsError, match="would replace it with an untrusted test certificate.*certbot delete"):
        tls.issuance(plan_for("staging"), BOTH, PRODUCTION)


def test_replacing_a_certificate_of_the_same_names_forces_certbot():
    plan = plan_for("production")
    assert tls.issue_command(plan, replace=True) == tls.issue_command(plan) + ["--force-renewal"]
    assert "--force-renewal" not in tls.issue_command(plan)


def test_edge_health_check_over_https_uses_the_server_name():
    assert compose_commands.edge_health_check("api.example.com", tls=True, attempts=5) == [
        "curl", "--fail", "--silent", "--show-error", "--max-time", "5",
        "--retry", "5", "--retry-delay", "1", "--retry-all-errors",
        "--insecure", "--resolve", "api.example.com:443:127.0.0.1",
        "--header", "Host: api.example.com", "https://api.example.com/health/"]
    assert compose_commands.edge_health_check("localhost", tls=False, attempts=5)[-1] == (
        "http://127.0.0.1/health/")
