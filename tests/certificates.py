"""Real X.509 certificates for the tests, made with `cryptography`, and the host's
certificate-expiry script loaded as a module."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.tools import HOST_SCRIPTS, load_host_script

EXPIRY_SCRIPT = HOST_SCRIPTS / "onehost-certificate-expiry.py"
RENEW_SCRIPT = HOST_SCRIPTS / "onehost-certbot-renew"


def load_expiry_script():
    return load_host_script(EXPIRY_SCRIPT.name, "onehost_certificate_expiry")


def self_signed(name: str, not_after: datetime, not_before: datetime | None = None) -> bytes:
    """A PEM certificate for `name` valid until `not_after`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before or not_after - timedelta(days=90)).not_valid_after(not_after)
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM)


def certbot_lineage(letsencrypt_dir: Path, name: str, not_after: datetime) -> Path:
    """<letsencrypt_dir>/live/<name>/cert.pem as certbot lays it out, valid until `not_after`."""
    live = letsencrypt_dir / "live" / name
    live.mkdir(parents=True, exist_ok=True)
    (live / "cert.pem").write_bytes(self_signed(name, not_after))
    return live / "cert.pem"


def days_from_now(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)
