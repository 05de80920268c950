"""TLS for the edge: which names a certificate covers, where it lives, and the commands that make it.

Certificates come from an ACME server (Let's Encrypt) through certbot's webroot method. certbot
runs on the host (baked into the image); its whole state lives in `<data_dir>/letsencrypt`,
which nginx mounts read-only at /etc/letsencrypt. Until the first certificate is issued nginx
serves a short-lived self-signed placeholder from the same directory, so it can start (and
answer the HTTP-01 challenge on port 80) before any certificate exists.

Everything here is pure: validation raises `TlsError` with the fix in its message, and the
command builders return argument lists (unit-tested as exact lists).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MODES = ("letsencrypt", "off")
ACME_DIRECTORIES = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
# Where nginx sees <data_dir>/letsencrypt.
NGINX_LETSENCRYPT_DIR = "/etc/letsencrypt"
# Inside the letsencrypt directory, beside certbot's own accounts/ archive/ live/ renewal/.
WEBROOT = "onehost-webroot"
PLACEHOLDER = "onehost-placeholder"
ACME_CA_BUNDLE = "onehost-acme-ca.pem"
# The placeholder is only there until the first issuance; a deploy makes a new one when it
# would expire within a day.
PLACEHOLDER_DAYS = 7
PLACEHOLDER_RENEW_SECONDS = 86400
# certbot's scratch space and logs stay on the host; only its state moves with /data.
CERTBOT_WORK_DIR = "/var/lib/letsencrypt"
CERTBOT_LOGS_DIR = "/var/log/letsencrypt"

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?P<domain>[^@\s]+)$")
_EXAMPLE = '--data server_names=\'["api.example.com"]\''


class TlsError(ValueError):
    """A TLS setting that cannot work; the message says which and how to fix it."""


def is_hostname(name: str) -> bool:
    """A DNS name of two or more labels (letters, digits, hyphens), at most 253 characters."""
    labels = name.split(".")
    return (0 < len(name) <= 253 and len(labels) >= 2 and all(_LABEL.match(label) for label in labels)
            and not labels[-1].isdigit())


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def validate_mode(mode: str) -> str:
    if mode not in MODES:
        raise TlsError(f"tls is {mode!r}: use one of {', '.join(MODES)} (e.g. --data tls=off for a "
                       "host without a public domain name)")
    return mode


def validate_server_names(names, tls: str) -> list[str]:
    """The names nginx answers to. With a certificate, every one must be a public DNS name
    the ACME server can reach over HTTP (no IP address, no localhost, no wildcard)."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise TlsError(f"server_names is {names!r}: give a list of domain names, e.g. {_EXAMPLE}")
    if not names:
        raise TlsError(f"server_names is empty: give the domain names the host answers to, e.g. {_EXAMPLE}")
    checked = []
    for name in names:
        if not isinstance(name, str) or name != name.strip().lower() or not name:
            raise TlsError(f"server name {name!r} is not a domain name: write it in lower case "
                           "without spaces, e.g. api.example.com")
        if name in checked:
            raise TlsError(f"server name {name!r} is listed twice in server_names")
        if tls == "letsencrypt":
            if name.startswith("*."):
                raise TlsError(f"server name {name!r} is a wildcard: HTTP-01 validation cannot issue "
                               "wildcard certificates; list each name")
            if _is_ip_address(name) or name == "localhost" or name.endswith(".localhost"):
                raise TlsError(f"server name {name!r} cannot get a certificate from an ACME server: "
                               "give the public domain names whose DNS points at this host, or "
                               "--data tls=off to serve plain HTTP")
            if not is_hostname(name):
                raise TlsError(f"server name {name!r} is not a valid domain name (labels of letters, "
                               "digits and hyphens, separated by dots, e.g. api.example.com)")
        elif not (is_hostname(name) or _is_ip_address(name) or name == "localhost"):
            raise TlsError(f"server name {name!r} is not a domain name, localhost or an IP address")
        checked.append(name)
    return checked


def validate_email(email) -> str:
    """The ACME account's contact: Let's Encrypt writes to it about expiring certificates."""
    if not email:
        raise TlsError("letsencrypt_email is not set: give the address Let's Encrypt may write to "
                       "about your certificates, e.g. --data letsencrypt_email=ops@example.com")
    match = _EMAIL.match(str(email))
    if not match or not is_hostname(match["domain"].lower()):
        raise TlsError(f"letsencrypt_email {email!r} is not an email address (e.g. ops@example.com)")
    return str(email)


def acme_directory(server: str) -> str:
    """`production`, `staging` or the https:// URL of another ACME server's directory."""
    if server in ACME_DIRECTORIES:
        return ACME_DIRECTORIES[server]
    if isinstance(server, str) and re.match(r"^https://[^\s/]+(/\S*)?$", server):
        return server
    raise TlsError(f"acme_server is {server!r}: use production, staging (untrusted certificates, "
                   "high rate limits: for trying things out) or an https:// ACME directory URL")


@dataclass(frozen=True)
class TlsPlan:
    """What the edge serves over TLS, and from where. `names[0]` names the certificate."""
    mode: str
    names: tuple[str, ...]
    email: str | None
    directory_url: str | None
    letsencrypt_dir: str

    @property
    def enabled(self) -> bool:
        return self.mode == "letsencrypt"

    @property
    def cert_name(self) -> str:
        return self.names[0]

    @property
    def live_dir(self) -> str:
        return f"{self.letsencrypt_dir}/live/{self.cert_name}"

    @property
    def webroot(self) -> str:
        return f"{self.letsencrypt_dir}/{WEBROOT}"

    @property
    def placeholder_dir(self) -> str:
        return f"{self.letsencrypt_dir}/{PLACEHOLDER}"

    @property
    def ca_bundle(self) -> str:
        return f"{self.letsencrypt_dir}/{ACME_CA_BUNDLE}"

    @property
    def renewal_config(self) -> str:
        """certbot's renewal settings for the certificate, with the directory that issued it."""
        return f"{self.letsencrypt_dir}/renewal/{self.cert_name}.conf"


def tls_plan(mode: str, names, email, server: str, data_dir: str) -> TlsPlan:
    """Every TLS input checked at once, before the host is touched."""
    mode = validate_mode(mode)
    checked = validate_server_names(names, mode)
    if mode != "letsencrypt":
        return TlsPlan(mode, tuple(checked), None, None, f"{data_dir}/letsencrypt")
    return TlsPlan(mode, tuple(checked), validate_email(email), acme_directory(server),
                   f"{data_dir}/letsencrypt")


def nginx_certificate(plan: TlsPlan, issued: bool) -> dict:
    """The files nginx serves (paths as nginx sees them): the issued certificate, or the placeholder.
    No OCSP stapling: Let's Encrypt's certificates name no OCSP responder since 7 May 2025
    (https://letsencrypt.org/2024/12/05/ending-ocsp/), and nginx warns on every reload about
    `ssl_stapling` for a certificate without one."""
    base = f"{NGINX_LETSENCRYPT_DIR}/live/{plan.cert_name}" if issued else f"{NGINX_LETSENCRYPT_DIR}/{PLACEHOLDER}"
    return {"certificate": f"{base}/fullchain.pem", "certificate_key": f"{base}/privkey.pem"}


def placeholder_command(plan: TlsPlan) -> list[str]:
    """A self-signed ECDSA certificate for the names, valid PLACEHOLDER_DAYS, key readable by root only."""
    alt_names = ",".join(f"DNS:{name}" for name in plan.names)
    return ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", str(PLACEHOLDER_DAYS), "-subj", f"/CN={plan.cert_name}",
            "-addext", f"subjectAltName={alt_names}",
            "-keyout", f"{plan.placeholder_dir}/privkey.pem", "-out", f"{plan.placeholder_dir}/fullchain.pem"]


def _certbot_dirs(plan: TlsPlan) -> list[str]:
    return ["--config-dir", plan.letsencrypt_dir, "--work-dir", CERTBOT_WORK_DIR,
            "--logs-dir", CERTBOT_LOGS_DIR]


def issue_command(plan: TlsPlan, replace: bool = False) -> list[str]:
    """certbot certonly for all the names in one certificate, answered from nginx's webroot.
    A certificate of that name with other names is replaced (--expand covers added names).
    `replace`: the names are the same but another ACME directory issued it. certbot keeps a
    certificate of identical names until it is due, whatever --server says, unless forced
    (certbot/src/certbot/_internal/main.py `_handle_identical_cert_request`, renewal.py
    `should_renew`); forced, it renews from --server and records that server in the renewal file."""
    return ["certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
            "--email", plan.email, "--server", plan.directory_url, *_certbot_dirs(plan),
            "--webroot", "--webroot-path", plan.webroot,
            "--cert-name", plan.cert_name, "--domains", ",".join(plan.names),
            "--key-type", "ecdsa", "--elliptic-curve", "secp256r1", "--expand",
            *(["--force-renewal"] if replace else [])]


def issue_environment(plan: TlsPlan, with_ca_bundle: bool) -> dict[str, str]:
    """An ACME server with its own CA (a test server, an internal CA) is trusted through a bundle."""
    return {"REQUESTS_CA_BUNDLE": plan.ca_bundle} if with_ca_bundle else {}


def certificate_names(openssl_text: str) -> list[str]:
    """The DNS names in `openssl x509 -noout -ext subjectAltName` output, sorted."""
    return sorted(re.findall(r"DNS:([^\s,]+)", openssl_text))


def issuing_directory(renewal_config: str | None) -> str | None:
    """The ACME directory that issued a certificate: `server` in the [renewalparams] section of
    certbot's renewal file. certbot always writes it, on every issuance and renewal, from the
    --server it was given (certbot/src/certbot/_internal/storage.py `relevant_values`: "We always
    save the server value"), and `certbot renew` asks that server again."""
    if not renewal_config:
        return None
    section = None
    for line in renewal_config.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section == "renewalparams":
            match = re.match(r"^server\s*=\s*(.+)$", line)
            if match:
                return match[1].strip().strip("\"'")
    return None


def is_staging(directory_url: str) -> bool:
    """certbot's own test for a staging server (certbot/src/certbot/util.py `is_staging`)."""
    return directory_url == ACME_DIRECTORIES["staging"] or "staging" in directory_url


@dataclass(frozen=True)
class Issuance:
    """Whether the deploy asks the ACME server for a certificate, and why."""
    needed: bool
    replace: bool   # same names, another directory: certbot must be forced (issue_command)
    reason: str


def issuance(plan: TlsPlan, names_on_host: list[str] | None, issued_by: str | None) -> Issuance:
    """A certificate is got when none is on the host, when it covers other names, or when another
    ACME directory issued it (a staging certificate after acme_server=production)."""
    names = ", ".join(plan.names)
    if names_on_host is None:
        return Issuance(True, False, f"no certificate for {names} on the host yet")
    if sorted(plan.names) != names_on_host:
        return Issuance(True, False, f"the certificate on the host covers {', '.join(names_on_host)}, "
                                     f"server_names are {names}")
    if issued_by is None or issued_by == plan.directory_url:
        return Issuance(False, False, f"the certificate for {names} is on the host; certbot renews it")
    if is_staging(plan.directory_url) and not is_staging(issued_by):
        raise TlsError(
            f"the certificate for {names} on the host is from {issued_by}; acme_server "
            f"{plan.directory_url} would replace it with an untrusted test certificate (certbot refuses "
            "to). Keep acme_server=production, or remove the certificate first: sudo certbot delete "
            f"--cert-name {plan.cert_name} --config-dir {plan.letsencrypt_dir}")
    return Issuance(True, True, f"the certificate for {names} on the host is from {issued_by}; "
                                f"acme_server is now {plan.directory_url}")
