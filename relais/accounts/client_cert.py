"""Mutual TLS: the API client a verified client certificate designates.

nginx (deploy/nginx/relais.conf.template) terminates TLS, verifies the client certificate
against the configured CA bundle (IGC-Santé in production) and forwards, on every request,
its own verdict and the certificate:

    X-SSL-Client-Verify: SUCCESS | FAILED:<reason> | NONE   ($ssl_client_verify)
    X-SSL-Client-Cert:   the PEM certificate, URL-escaped   ($ssl_client_escaped_cert)
    X-SSL-Client-S-DN:   the subject, RFC 2253             ($ssl_client_s_dn, for the logs)

Relais believes those headers only when the request comes straight from one of
`RELAIS_TRUSTED_PROXIES` (the same setting and the same test as relais.core.ratelimit's
client_ip): from any other peer they are ignored, so a client cannot forge a verdict.
The certificate is then mapped to an ApiClient by the SHA-256 of its DER encoding,
registered with `relais create_api_client --client-cert FILE.pem` or the API clients page.
A bearer token keeps working for partners without a certificate."""

import logging
import urllib.parse
from dataclasses import dataclass
from datetime import UTC

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.db import transaction
from django.utils import timezone

from relais.core.errors import ApplicationError
from relais.core.ratelimit import from_trusted_proxy

logger = logging.getLogger(__name__)

VERIFY_HEADER = "HTTP_X_SSL_CLIENT_VERIFY"
CERT_HEADER = "HTTP_X_SSL_CLIENT_CERT"
MAX_CERT_CHARS = 20_000  # an escaped PEM certificate is a few kB


@dataclass(frozen=True)
class ClientCertificate:
    fingerprint: str  # SHA-256 of the DER, lowercase hex
    subject: str
    not_after: object  # aware datetime


def certificate_parse(pem: bytes | str) -> ClientCertificate:
    """The fingerprint, subject and expiry of one PEM certificate (ApplicationError in
    French when the file is not one)."""
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ApplicationError(
            "Certificat illisible : fournissez un certificat X.509 au format PEM "
            "(« -----BEGIN CERTIFICATE----- »).",
            code="invalid_certificate",
        ) from None
    return ClientCertificate(
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        subject=cert.subject.rfc4514_string()[:300],
        not_after=cert.not_valid_after_utc.astimezone(UTC),
    )


def forwarded_certificate(request) -> ClientCertificate | None:
    """The client certificate nginx verified for this request, or None: no certificate,
    a failed verification, a malformed header, or headers from a peer that is not a
    trusted proxy (then they are the client's own words and ignored)."""
    meta = request.META
    if meta.get(VERIFY_HEADER, "") != "SUCCESS" or not meta.get(CERT_HEADER):
        return None
    if not from_trusted_proxy(request):
        return None
    raw = meta[CERT_HEADER]
    if len(raw) > MAX_CERT_CHARS:
        return None
    try:
        return certificate_parse(urllib.parse.unquote(raw))
    except ApplicationError:
        logger.warning("mTLS: the proxy forwarded an unreadable client certificate")
        return None


def api_client_for_certificate(request):
    """The active ApiClient registered for the forwarded certificate, or None."""
    from relais.accounts.models import ApiClient
    from relais.accounts.services import api_client_touch

    cert = forwarded_certificate(request)
    if cert is None:
        return None
    client = ApiClient.objects.filter(
        cert_fingerprint=cert.fingerprint, revoked_at__isnull=True
    ).first()
    if client is None:
        # The CA signed it, but no client holds it: refused (401), fingerprint logged
        # so that the administrator can register it.
        logger.warning("mTLS: unregistered client certificate sha256=%s", cert.fingerprint)
        return None
    if cert.not_after < timezone.now():  # nginx checks it too; belt and braces
        return None
    api_client_touch(client)
    return client


def request_api_client(request, *, token: str):
    """The API client of a request: its verified certificate first, else its bearer
    token (None when neither designates an active client). Used by /api/v1 and /fhir."""
    from relais.accounts.services import api_client_authenticate

    client = api_client_for_certificate(request)
    if client is not None:
        request.api_client_auth = "mtls"
        return client
    client = api_client_authenticate(token=token) if token else None
    if client is not None:
        request.api_client_auth = "bearer"
    return client


@transaction.atomic
def api_client_set_certificate(*, client, pem: bytes | str | None) -> ClientCertificate | None:
    """Attach (or, with pem=None, detach) the client certificate of an API client."""
    from relais.accounts.models import ApiClient

    if pem is None:
        ApiClient.objects.filter(pk=client.pk).update(
            cert_fingerprint=None, cert_subject="", cert_not_after=None
        )
        client.cert_fingerprint, client.cert_subject, client.cert_not_after = None, "", None
        return None
    cert = certificate_parse(pem)
    if cert.not_after < timezone.now():
        raise ApplicationError("Ce certificat a expiré.", code="invalid_certificate")
    other = ApiClient.objects.filter(cert_fingerprint=cert.fingerprint).exclude(pk=client.pk)
    if other.exists():
        raise ApplicationError(
            "Ce certificat est déjà enregistré pour un autre client API.",
            code="duplicate_certificate",
        )
    client.cert_fingerprint = cert.fingerprint
    client.cert_subject = cert.subject
    client.cert_not_after = cert.not_after
    client.save(update_fields=["cert_fingerprint", "cert_subject", "cert_not_after"])
    return cert
