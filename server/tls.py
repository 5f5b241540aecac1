"""A self-signed certificate for serving HTTPS on a school LAN (`kelian serve --self-signed`).

Browsers allow camera and microphone only on secure origins, so a classroom terminal reaching
the server by its LAN address needs HTTPS even without a public certificate. The certificate is
made once under DATA_DIR/tls/ and reused while it is valid and names the host.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("kelian.tls")

CERT_NAME = "self-signed.crt"
KEY_NAME = "self-signed.key"
VALID_FOR = timedelta(days=365)
# Make a new certificate when the old one runs out within this margin.
RENEW_BEFORE = timedelta(days=7)
# Addresses that mean "every interface"; they make no sense in a certificate.
_WILDCARDS = {"", "0.0.0.0", "::"}


def _names(host: str) -> list[str]:
    names = [host] if host not in _WILDCARDS else []
    for extra in ("localhost", "127.0.0.1"):
        if extra not in names:
            names.append(extra)
    return names


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _reusable(cert_path: Path, key_path: Path, names: list[str]) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, x509.ExtensionNotFound):
        return False
    if key.public_key() != cert.public_key():
        return False  # a half-finished earlier run
    if cert.not_valid_after_utc - RENEW_BEFORE <= datetime.now(UTC):
        return False
    return all(_general_name(name) in san for name in names)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with `mode` from the start (the key is never readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)  # in case the umask narrowed or widened it
    os.replace(tmp, path)


def ensure_self_signed(data_dir: Path, host: str) -> tuple[Path, Path]:
    """Return (certificate, key) PEM paths, making a new pair when none fits `host`."""
    tls_dir = data_dir / "tls"
    cert_path, key_path = tls_dir / CERT_NAME, tls_dir / KEY_NAME
    names = _names(host)
    if _reusable(cert_path, key_path, names):
        return cert_path, key_path

    tls_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kelian"),
        x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
    ])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info("made a self-signed certificate for %s in %s", ", ".join(names), tls_dir)
    return cert_path, key_path
