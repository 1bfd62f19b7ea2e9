"""A throw-away PKI for the mutual TLS tests and local trials (never for production: the
production CA bundle is IGC-Santé's).

    .venv/bin/python scripts/make_test_pki.py DIR

writes into DIR:
    ca.pem                      the test CA (RELAIS_CLIENT_CA, and the server's issuer)
    server.pem, server.key      the nginx server certificate (localhost, 127.0.0.1)
    client-registered.pem/.key  a client certificate to register on an API client
    client-unknown.pem/.key     signed by the same CA, registered nowhere (401 expected)
    client-foreign.pem/.key     signed by another CA (refused in the TLS handshake)
Keys are unencrypted PEM, RSA 2048, certificates valid for 2 days."""

import sys
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Relais PKI de test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _builder(subject, issuer, public_key):
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
    )


def _ca(cn: str):
    key = _key()
    cert = (
        _builder(_name(cn), _name(cn), key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca_key, ca_cert, cn: str, *, server: bool):
    key = _key()
    builder = _builder(_name(cn), ca_cert.subject, key.public_key()).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(directory: Path, stem: str, key, cert) -> None:
    (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path = directory / f"{stem}.key"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)


def make_pki(directory) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("Relais test CA")
    _write(directory, "ca", None, ca_cert)
    _write(directory, "server", *_leaf(ca_key, ca_cert, "localhost", server=True))
    _write(
        directory,
        "client-registered",
        *_leaf(ca_key, ca_cert, "plateforme-sas-test", server=False),
    )
    _write(directory, "client-unknown", *_leaf(ca_key, ca_cert, "inconnu", server=False))
    foreign_key, foreign_cert = _ca("Another CA")
    _write(directory, "client-foreign", *_leaf(foreign_key, foreign_cert, "etranger", server=False))
    return directory


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_test_pki.py DIR")
    print(make_pki(sys.argv[1]))
