"""Certificates for HTTPS fakes, made with ``cryptography``: a private CA and a server certificate for
127.0.0.1 signed by it, or a self-signed server certificate, or an expired one."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Certificates:
    ca_pem: str  # what a client must trust (the server certificate itself when self-signed)
    context: ssl.SSLContext  # the server side


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_certificates(*, self_signed: bool = False, expired: bool = False) -> Certificates:
    """A server certificate for 127.0.0.1 and localhost: issued by a fresh private CA, or self-signed."""
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = (
        (now - dt.timedelta(days=30), now - dt.timedelta(days=1))
        if expired
        else (
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=1),
        )
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca_key = server_key if self_signed else ec.generate_private_key(ec.SECP256R1())
    unique = secrets.token_hex(4)  # two CAs with one name would be mistaken for each other by OpenSSL
    ca_name = _name(f"retl test server {unique}" if self_signed else f"retl test CA {unique}")
    ca_certificate = None
    if not self_signed:
        ca_certificate = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(ca_key, hashes.SHA256())
        )
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    builder = (
        x509.CertificateBuilder()
        .subject_name(ca_name if self_signed else _name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
    )
    if self_signed:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    server_certificate = builder.sign(ca_key, hashes.SHA256())
    folder = Path(tempfile.mkdtemp(prefix="retl-tls-"))
    chain, key = folder / "server.pem", folder / "server.key"
    chain.write_text(_pem(server_certificate))
    key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    return Certificates(_pem(ca_certificate or server_certificate), context)
