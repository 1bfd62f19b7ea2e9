"""A NUL character in a request is refused with a 400 before any view (PostgreSQL text
cannot hold it: it used to end in a 500, found by schemathesis on GET /api/v1/communes)."""

import json

import pytest

from relais.accounts.services import api_client_create
from relais.regulation.models import Request
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_the_api_refuses_a_nul_in_the_query_string(client):
    response = client.get("/api/v1/communes?q=%C3%89v%00ry")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert "nul" in response.json()["error"]["message"]


def test_the_api_refuses_a_nul_in_a_json_body_and_writes_nothing(client, snp_request):
    _, token = api_client_create(name="éditeur", scopes=["appointments:write", "requests:read"])
    slot = f.SlotFactory()
    body = json.dumps(
        {"request": str(snp_request.public_id), "slot": str(slot.public_id), "x": "a\x00b"}
    )
    assert "\\u0000" in body
    response = client.post(
        "/api/v1/bookings",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    snp_request.refresh_from_db()
    assert snp_request.status == "open"


def test_fhir_answers_an_operation_outcome(client):
    response = client.get("/fhir/Slot?schedule.actor=%00")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_page_answers_in_french_and_a_form_post_is_checked_too(client, olivia):
    client.force_login(olivia)
    response = client.get("/?q=x%00")
    assert response.status_code == 400
    assert "Caractère nul" in response.content.decode()
    before = Request.objects.count()
    response = client.post(
        "/demandes/nouvelle/",
        "last_name=Du%00pont&first_name=Jean",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert Request.objects.count() == before


def test_an_ordinary_request_goes_through(client):
    f.commune("91228")  # Évry-Courcouronnes
    _, token = api_client_create(name="éditeur", scopes=["requests:read"])
    response = client.get("/api/v1/communes?q=%C3%89vry", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()[0]["insee"] == "91228"
