"""Mutual TLS: nginx (deploy/nginx/relais.conf.template) in front of a live Relais, with
the throw-away PKI of scripts/make_test_pki.py, and the trusted-header reading behind it."""

import http.client
import json
import os
import runpy
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
from django.core.management import call_command

from relais.accounts.client_cert import api_client_set_certificate, certificate_parse
from relais.accounts.models import ApiClient
from relais.accounts.services import api_client_create, api_client_revoke
from relais.audit.models import AuditEvent
from tests import factories as f
from tests.interop.conftest import bearer, validate
from tests.interop.test_fhir_slots import sas_query

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "relais.conf.template"
VARIABLES = (
    "${RELAIS_LISTEN} ${RELAIS_TLS_CERT} ${RELAIS_TLS_KEY} ${RELAIS_CLIENT_CA} ${RELAIS_UPSTREAM}"
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    make_pki = runpy.run_path(str(ROOT / "scripts" / "make_test_pki.py"))["make_pki"]
    return make_pki(tmp_path_factory.mktemp("pki"))


def _escaped(pem_path: Path) -> str:
    """The certificate as nginx's $ssl_client_escaped_cert forwards it."""
    return urllib.parse.quote(pem_path.read_text(), safe="")


def _platform(pki, scopes=("slots:read",), name="plateforme-sas"):
    client, token = api_client_create(name=name, scopes=list(scopes))
    api_client_set_certificate(client=client, pem=(pki / "client-registered.pem").read_bytes())
    return client, token


def _slots(sas91):
    pro = f.ProfessionalFactory()
    f.SlotFactory(professional=pro, for_sas=True)
    return pro


# --- behind the proxy: which headers Relais believes ------------------------------------


@pytest.mark.django_db
def test_it_maps_a_verified_certificate_from_a_trusted_proxy_to_its_client(
    client, settings, pki, sas91
):
    settings.RELAIS_TRUSTED_PROXIES = ["10.0.0.5"]
    _platform(pki)
    pro = _slots(sas91)
    headers = {
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_X_SSL_CLIENT_VERIFY": "SUCCESS",
        "HTTP_X_SSL_CLIENT_CERT": _escaped(pki / "client-registered.pem"),
    }
    response = client.get("/fhir/Slot", sas_query(pro.rpps), **headers)
    assert response.status_code == 200
    assert response.json()["total"] == 1
    assert AuditEvent.objects.filter(api_client="plateforme-sas", reason__startswith="200").exists()
    # The JSON API takes the certificate too.
    assert client.get("/api/v1/communes?q=evry", **headers).status_code == 200
    assert ApiClient.objects.get(name="plateforme-sas").last_used_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote", "verify", "cert"),
    [
        ("192.0.2.9", "SUCCESS", "client-registered"),  # forged by a client, not the proxy
        ("10.0.0.5", "FAILED:certificate has expired", "client-registered"),
        ("10.0.0.5", "NONE", "client-registered"),
        ("10.0.0.5", "SUCCESS", "client-unknown"),  # the CA signed it, nobody holds it
        ("10.0.0.5", "SUCCESS", None),  # garbage instead of a certificate
    ],
)
def test_it_refuses_what_is_not_a_verified_registered_certificate(
    client, settings, pki, sas91, remote, verify, cert
):
    settings.RELAIS_TRUSTED_PROXIES = ["10.0.0.5/32"]
    _platform(pki)
    pro = _slots(sas91)
    headers = {
        "REMOTE_ADDR": remote,
        "HTTP_X_SSL_CLIENT_VERIFY": verify,
        "HTTP_X_SSL_CLIENT_CERT": _escaped(pki / f"{cert}.pem") if cert else "not%20a%20cert",
    }
    response = client.get("/fhir/Slot", sas_query(pro.rpps), **headers)
    assert response.status_code == 401
    assert validate(response.json()).issue[0].code == "login"
    api = client.get("/api/v1/communes?q=evry", **headers)
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"


@pytest.mark.django_db
def test_it_refuses_the_certificate_of_a_revoked_client_and_keeps_bearer_tokens(
    client, settings, pki, sas91
):
    settings.RELAIS_TRUSTED_PROXIES = ["10.0.0.5"]
    platform, _ = _platform(pki)
    _, partner_token = api_client_create(name="editeur", scopes=["slots:read"])
    pro = _slots(sas91)
    headers = {
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_X_SSL_CLIENT_VERIFY": "SUCCESS",
        "HTTP_X_SSL_CLIENT_CERT": _escaped(pki / "client-registered.pem"),
    }
    api_client_revoke(client=platform)
    assert client.get("/fhir/Slot", sas_query(pro.rpps), **headers).status_code == 401
    assert client.get("/fhir/Slot", sas_query(pro.rpps), **bearer(partner_token)).status_code == 200


@pytest.mark.django_db
def test_it_registers_a_certificate_from_the_command_line_and_refuses_a_second_holder(
    pki, sas91, capsys
):
    call_command(
        "create_api_client",
        name="plateforme-sas",
        scopes="slots:read,appointments:write",
        client_cert=str(pki / "client-registered.pem"),
    )
    out = capsys.readouterr().out
    client = ApiClient.objects.get(name="plateforme-sas")
    expected = certificate_parse((pki / "client-registered.pem").read_bytes())
    assert client.cert_fingerprint == expected.fingerprint and len(expected.fingerprint) == 64
    assert "CN=plateforme-sas-test" in client.cert_subject
    assert expected.fingerprint in out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="déjà enregistré"):
        call_command(
            "create_api_client",
            name="autre",
            scopes="slots:read",
            client_cert=str(pki / "client-registered.pem"),
        )
    assert not ApiClient.objects.filter(name="autre").exists()  # nothing half-created
    bad = pki / "not-a-cert.pem"
    bad.write_text("bonjour")
    with pytest.raises(CommandError, match="Certificat illisible"):
        call_command("create_api_client", name="x", scopes="slots:read", client_cert=str(bad))


# --- nginx in front of a live server ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx(live_server, pki, tmp_path, settings):
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    envsubst = shutil.which("envsubst")
    if binary is None or envsubst is None:
        if os.environ.get("CI"):
            pytest.fail(
                "nginx and envsubst are required in CI (apt-get install nginx gettext-base)"
            )
        pytest.skip("nginx or envsubst not installed: apt-get install nginx gettext-base")
    settings.RELAIS_TRUSTED_PROXIES = ["127.0.0.1"]
    port = _free_port()
    upstream = urllib.parse.urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    env = {
        **os.environ,
        "RELAIS_LISTEN": f"127.0.0.1:{port}",
        "RELAIS_TLS_CERT": str(pki / "server.pem"),
        "RELAIS_TLS_KEY": str(pki / "server.key"),
        "RELAIS_CLIENT_CA": str(pki / "ca.pem"),
        "RELAIS_UPSTREAM": upstream,
    }
    rendered = subprocess.run(
        [envsubst, VARIABLES], input=TEMPLATE.read_text(), env=env, capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    assert "${" not in rendered and "$ssl_client_escaped_cert" in rendered
    (tmp_path / "relais.conf").write_text(rendered)
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\nmaster_process off;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log info;\nevents {{}}\nhttp {{\n"
        f"  access_log {tmp_path}/access.log;\n"
        + "".join(f"  {kind}_temp_path {tmp_path}/{kind};\n"
                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {tmp_path}/relais.conf;\n}}\n"
    )  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - the test's own nginx
        [binary, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"nginx did not start: {process.stderr.read().decode()}")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _tls_get(port, path, pki, cert=None, *, tls12=False, headers=None):
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        context.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=15)
    try:
        connection.request(
            "GET", path, headers={"Accept": "application/fhir+json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _slot_path(pro) -> str:
    return "/fhir/Slot?" + urllib.parse.urlencode(sas_query(pro.rpps), doseq=True)


@pytest.mark.django_db(transaction=True)
def test_it_serves_the_registered_certificate_and_refuses_the_others_through_nginx(
    nginx, pki, sas91
):
    _platform(pki)
    pro = _slots(sas91)
    path = _slot_path(pro)

    status, body = _tls_get(nginx, path, pki, "client-registered")
    assert status == 200, body
    bundle = validate(json.loads(body))
    assert bundle.type == "searchset" and bundle.total == 1

    # An unknown certificate of the same CA reaches Relais, which knows nobody holding it.
    status, body = _tls_get(nginx, path, pki, "client-unknown")
    assert status == 401 and json.loads(body)["resourceType"] == "OperationOutcome"

    # No certificate: refused in the handshake (TLS 1.3: the certificate_required alert
    # arrives with the first read; TLS 1.2: handshake_failure), no HTTP answer at all.
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED|certificate required"):
        _tls_get(nginx, path, pki)
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE|handshake failure"):
        _tls_get(nginx, path, pki, tls12=True)
    # A certificate of another CA: the connection is closed without an answer.
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        _tls_get(nginx, path, pki, "client-foreign")


@pytest.mark.django_db(transaction=True)
def test_it_overwrites_the_headers_a_client_sends_to_nginx_and_ignores_them_from_elsewhere(
    nginx, live_server, pki, sas91
):
    _platform(pki)
    pro = _slots(sas91)
    path = _slot_path(pro)
    forged = {
        "X-SSL-Client-Verify": "SUCCESS",
        "X-SSL-Client-Cert": _escaped(pki / "client-registered.pem"),
    }
    # Through nginx with the unknown certificate: nginx replaces the forged headers.
    status, _ = _tls_get(nginx, path, pki, "client-unknown", headers=forged)
    assert status == 401
    # Straight to Relais from an address that is not a trusted proxy (the live server
    # sees 127.0.0.1, trusted here, so distrust it for this call).
    from django.test import override_settings

    with override_settings(RELAIS_TRUSTED_PROXIES=["10.9.9.9"]):
        url = urllib.parse.urlsplit(live_server.url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
        connection.request("GET", path, headers=forged)
        assert connection.getresponse().status == 401
        connection.close()


# --- outbound: the INT_R03 reports present our client certificate --------------------------


@pytest.fixture
def mtls_platform(pki):
    """A TLS server requiring a client certificate of the test CA (the SAS platform)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            subject = dict(x[0] for x in self.connection.getpeercert()["subject"])
            seen.append((self.command, self.path, subject.get("commonName")))
            body = b'{"resourceType": "Appointment", "id": "sas-1", "status": "booked"}'
            self.send_response(201)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/fhir", seen
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_it_presents_our_client_certificate_to_the_sas_platform(
    settings, pki, mtls_platform, snp_request
):
    from relais.interop.models import ReportStatus, SasReport
    from relais.interop.services import appointment_report_enqueue, sas_report_deliver
    from relais.orientation.services import booking_create

    url, seen = mtls_platform
    settings.RELAIS_SAS_FHIR_URL = url
    settings.RELAIS_SAS_CA = str(pki / "ca.pem")
    booking = booking_create(request=snp_request, slot=f.SlotFactory())
    # The booking service queues the POST itself (interop subscribes to bookings).
    report = SasReport.objects.filter(booking=booking).order_by("pk").first()
    report = report or appointment_report_enqueue(booking=booking)
    # Without our certificate the platform refuses the handshake: kept for a retry.
    settings.RELAIS_SAS_CLIENT_CERT = ""
    assert sas_report_deliver(report_id=report.pk) == "failed"
    report.refresh_from_db()
    assert report.status == ReportStatus.PENDING and "SSL" in report.last_error
    assert seen == []
    # With it: delivered, and the platform saw our certificate.
    settings.RELAIS_SAS_CLIENT_CERT = str(pki / "client-registered.pem")
    settings.RELAIS_SAS_CLIENT_KEY = str(pki / "client-registered.key")
    assert sas_report_deliver(report_id=report.pk) == "sent"
    assert seen == [("POST", "/fhir/Appointment", "plateforme-sas-test")]
