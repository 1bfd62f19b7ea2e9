"""The API clients back-office (issue 17 item 5): create with scopes and a territory limit,
list with last use, rotate, revoke, client certificate; who may manage which client."""

import re
import runpy
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from relais.accounts.models import ApiClient, Role
from relais.accounts.services import api_client_create
from relais.audit.models import AuditEvent
from tests import factories as f

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(r"rls_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def adele(sas91):
    return f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    make_pki = runpy.run_path(str(ROOT / "scripts" / "make_test_pki.py"))["make_pki"]
    return make_pki(tmp_path_factory.mktemp("pki"))


def _create(client, **fields):
    return client.post("/administration/clients-api/nouveau/", fields)


def _indicators(_, token):
    """A partner's call: a client of its own (no staff session to fall back on)."""
    today = timezone.localdate()
    return Client().get(
        "/api/v1/indicators",
        {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_it_creates_a_client_limited_to_a_cpts_and_shows_its_token_once(
    client, adele, cpts_a, cpts_b
):
    f.RequestFactory(patient=f.PatientFactory(commune=f.commune("91228")))  # CPTS A
    f.RequestFactory(patient=f.PatientFactory(commune=f.commune("91223")))  # CPTS B
    client.force_login(adele)
    page = client.get("/administration/clients-api/nouveau/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "regulators:write" not in html  # the national platform's scope
    assert f"cpts:{cpts_a.public_id}" in html and "SAS 91" in html
    response = _create(
        client,
        name="logiciel-cpts-a",
        scopes=["indicators:read"],
        territory=f"cpts:{cpts_a.public_id}",
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    token = TOKEN.search(response.content.decode()).group(0)
    created = ApiClient.objects.get(name="logiciel-cpts-a")
    assert list(created.cpts_scope.all()) == [cpts_a] and not created.sas_scope.exists()
    assert created.token_hash != token and token not in str(created.__dict__)
    assert AuditEvent.objects.filter(
        user=adele, action="create", object_type="accounts.apiclient"
    ).exists()
    # The token reads its CPTS only (1 of the 2 requests of SAS 91).
    assert _indicators(client, token).json()["requests_total"] == 1
    # The list shows it, with its last use, and never the token again.
    listing = client.get("/administration/clients-api/").content.decode()
    assert "logiciel-cpts-a" in listing and token not in listing
    assert "jamais" not in listing.split("logiciel-cpts-a", 1)[1].split("</tr>", 1)[0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scopes": ["regulators:write"]}, "Sélectionnez un choix valide"),
        ({"territory": "sas43"}, "Sélectionnez un choix valide"),
        ({"scopes": []}, "obligatoire"),
        ({"name": ""}, "obligatoire"),
    ],
)
def test_it_refuses_what_an_administrator_may_not_grant(
    client, adele, sas91, sas43, fields, message
):
    client.force_login(adele)
    data = {"name": "x", "scopes": ["slots:read"], "territory": f"sas:{sas91.public_id}"}
    data.update(fields)
    if data.get("territory") == "sas43":
        data["territory"] = f"sas:{sas43.public_id}"
    response = _create(client, **data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ApiClient.objects.exists()


def test_it_lets_a_coordinator_manage_clients_of_their_cpts_only(
    client, coralie, cpts_a, cpts_b, sas91
):
    client.force_login(coralie)
    html = client.get("/administration/clients-api/nouveau/").content.decode()
    assert f"cpts:{cpts_b.public_id}" in html
    assert f"cpts:{cpts_a.public_id}" not in html and f"sas:{sas91.public_id}" not in html
    assert "requests:read" not in html  # a coordinator cannot read requests either
    refused = _create(
        client, name="x", scopes=["requests:read"], territory=f"cpts:{cpts_b.public_id}"
    )
    assert "Sélectionnez un choix valide" in refused.content.decode()
    ok = _create(
        client, name="agenda-cpts-b", scopes=["slots:read"], territory=f"cpts:{cpts_b.public_id}"
    )
    assert ok.status_code == 200 and TOKEN.search(ok.content.decode())
    # The SAS's own clients and the national ones are not hers.
    sas_client, _ = api_client_create(name="logiciel-sas-91", scopes=["slots:read"])
    sas_client.sas_scope.add(sas91)
    api_client_create(name="plateforme-nationale", scopes=["slots:read"])
    listing = client.get("/administration/clients-api/").content.decode()
    assert "agenda-cpts-b" in listing
    assert "logiciel-sas-91" not in listing and "plateforme-nationale" not in listing
    for action in ("renouveler", "revoquer", "certificat"):
        response = client.post(f"/administration/clients-api/{sas_client.public_id}/{action}/")
        assert response.status_code == 404, action
    assert ApiClient.objects.get(pk=sas_client.pk).revoked_at is None


def test_it_rotates_and_revokes(client, adele, sas91, sas43):
    mine, old = api_client_create(name="editeur-91", scopes=["slots:read", "indicators:read"])
    mine.sas_scope.add(sas91)
    other, _ = api_client_create(name="editeur-43", scopes=["slots:read"])
    other.sas_scope.add(sas43)
    client.force_login(adele)
    listing = client.get("/administration/clients-api/").content.decode()
    assert "editeur-91" in listing and "editeur-43" not in listing
    rotated = client.post(f"/administration/clients-api/{mine.public_id}/renouveler/")
    new = TOKEN.search(rotated.content.decode()).group(0)
    assert new != old and "no-store" in rotated["Cache-Control"]
    assert _indicators(client, old).status_code == 401
    assert _indicators(client, new).status_code == 200
    revoked = client.post(f"/administration/clients-api/{mine.public_id}/revoquer/", follow=True)
    assert "révoqué" in revoked.content.decode()
    assert _indicators(client, new).status_code == 401
    again = client.post(f"/administration/clients-api/{mine.public_id}/revoquer/", follow=True)
    assert "déjà révoqué" in again.content.decode()
    assert (
        client.post(f"/administration/clients-api/{other.public_id}/revoquer/").status_code == 404
    )
    assert AuditEvent.objects.filter(user=adele, reason="jeton renouvelé").exists()


def test_it_attaches_and_removes_a_client_certificate(client, adele, sas91, pki):
    mine, _ = api_client_create(name="plateforme-91", scopes=["slots:read"])
    mine.sas_scope.add(sas91)
    client.force_login(adele)
    url = f"/administration/clients-api/{mine.public_id}/certificat/"
    bad = SimpleUploadedFile("x.pem", b"pas un certificat")
    page = client.post(url, {"certificate": bad}, follow=True).content.decode()
    assert "Certificat illisible" in page
    assert ApiClient.objects.get(pk=mine.pk).cert_fingerprint is None
    pem = (pki / "client-registered.pem").read_bytes()
    page = client.post(url, {"certificate": SimpleUploadedFile("c.pem", pem)}, follow=True)
    mine.refresh_from_db()
    assert mine.cert_fingerprint and len(mine.cert_fingerprint) == 64
    assert "plateforme-sas-test" in page.content.decode()  # the subject, listed
    client.post(url, {"remove": "1"})
    mine.refresh_from_db()
    assert mine.cert_fingerprint is None


@pytest.mark.parametrize("who", ["olivia", "regis", "oscar", "nobody"])
def test_it_refuses_the_other_roles(client, who, request, sas91):
    client.force_login(request.getfixturevalue(who))
    assert client.get("/administration/clients-api/").status_code == 403
    assert _create(client, name="x", scopes=["slots:read"], territory="x").status_code == 403
    assert not ApiClient.objects.exists()


def test_it_sends_anonymous_visitors_to_the_login(client):
    response = client.get("/administration/clients-api/")
    assert response.status_code == 302 and "/connexion/" in response["Location"]
