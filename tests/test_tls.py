"""The self-signed certificate for `kelian serve --self-signed`."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

from cryptography import x509

from server.tls import ensure_self_signed


def san_of(cert_path: Path) -> x509.SubjectAlternativeName:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_makes_a_usable_pair(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, "192.168.10.5")
    assert cert.parent == key.parent == tmp_path / "tls"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    san = san_of(cert)
    ips = san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("192.168.10.5") in ips
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)  # raises when the two do not belong together


def test_reused_for_the_same_host(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, "kelian.school.lan")
    before = cert.read_bytes(), key.read_bytes()
    assert ensure_self_signed(tmp_path, "kelian.school.lan") == (cert, key)
    assert (cert.read_bytes(), key.read_bytes()) == before
    assert "kelian.school.lan" in san_of(cert).get_values_for_type(x509.DNSName)


def test_remade_for_another_host_or_a_broken_pair(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, "a.lan")
    first = cert.read_bytes()
    ensure_self_signed(tmp_path, "b.lan")
    assert cert.read_bytes() != first
    assert "b.lan" in san_of(cert).get_values_for_type(x509.DNSName)
    second = cert.read_bytes()
    key.write_text("garbage")
    ensure_self_signed(tmp_path, "b.lan")
    assert cert.read_bytes() != second
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_wildcard_listen_address(tmp_path: Path) -> None:
    cert, _ = ensure_self_signed(tmp_path, "0.0.0.0")
    ips = san_of(cert).get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("0.0.0.0") not in ips
    assert ipaddress.ip_address("127.0.0.1") in ips
