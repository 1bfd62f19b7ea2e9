"""Input that cannot crash: the hand-fuzzed calls that answered 500 (issue 14, item 10)
replayed, each now refused with a 4xx in the door's own error format, before parsing
or before the database."""

import json

import pytest

from relais.accounts.services import api_client_create
from relais.core.middleware import json_depth
from relais.orientation.models import Booking
from relais.regulation.models import Patient, Request
from tests import factories as f
from tests.interop.conftest import bearer, make_token

pytestmark = pytest.mark.django_db
DEEP = "[" * 50_000 + "]" * 50_000  # json.loads: RecursionError


@pytest.fixture
def api_token(cpts_a):
    _, token = api_client_create(
        name="fuzz", scopes=["requests:write", "requests:read", "appointments:write"]
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def fhir_token(cpts_a):
    f.commune("91174")
    return bearer(make_token("slots:read,appointments:read,appointments:write"))


def fhir_appointment(slot, **patient) -> dict:
    contained = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Vercingétorix", "given": ["Alésia"]}],
        "telecom": [{"system": "phone", "value": "+33639981234"}],
        "address": [{"postalCode": "91100", "city": "Corbeil-Essonnes"}],
    }
    contained.update(patient)
    return {
        "resourceType": "Appointment",
        "identifier": [{"system": "https://sas.sante.fr/rdv", "value": "RDV-FUZZ"}],
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.public_id}"}],
        "contained": [contained],
        "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}],
    }


def error_code(response):
    return response.json()["error"]["code"]


# --- 1-3: deeply nested JSON (RecursionError) -------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/bookings", "/api/v1/requests"])
def test_it_refuses_deeply_nested_json_on_the_api(client, api_token, path):
    response = client.post(path, DEEP, content_type="application/json", **api_token)
    assert response.status_code == 400
    assert error_code(response) == "invalid_input"
    assert "imbriqué" in response.json()["error"]["message"]


def test_it_refuses_deeply_nested_json_on_fhir(client, fhir_token):
    body = '{"resourceType": "Appointment", "x": ' + DEEP + "}"
    response = client.post(
        "/fhir/Appointment", body, content_type="application/fhir+json", **fhir_token
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


# --- 4-7: over-long patient fields through FHIR (DataError on PostgreSQL) ----------------------


@pytest.mark.parametrize(
    "patient",
    [
        {"name": [{"family": "V" * 101, "given": ["Alésia"]}]},
        {"name": [{"family": "Vercingétorix", "given": ["A" * 101]}]},
        {"telecom": [{"system": "phone", "value": "0" * 21}]},
        {"telecom": [{"system": "email", "value": "a" * 250 + "@example.org"}]},
    ],
    ids=["family", "given", "phone", "email"],
)
def test_it_refuses_over_long_patient_fields_through_fhir(client, fhir_token, patient):
    slot = f.SlotFactory()
    patients, requests = Patient.objects.count(), Request.objects.count()
    response = client.post(
        "/fhir/Appointment",
        json.dumps(fhir_appointment(slot, **patient)),
        content_type="application/fhir+json",
        **fhir_token,
    )
    assert response.status_code == 422, response.content
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "trop long" in outcome["issue"][0]["diagnostics"]
    assert (Patient.objects.count(), Request.objects.count()) == (patients, requests)
    assert not Booking.objects.filter(slot=slot).exists()


# --- 8-9: the NUL guard bypassed with another content type ------------------------------------


def test_the_api_refuses_a_nul_sent_as_text_plain(client, api_token):
    body = json.dumps({"patient": {"first_name": "A\x00", "last_name": "B"}})
    response = client.post("/api/v1/requests", body, content_type="text/plain", **api_token)
    assert response.status_code == 400
    assert error_code(response) == "invalid_input"
    raw = client.post(
        "/api/v1/requests", b'{"x": "a\x00b"}', content_type="text/plain", **api_token
    )
    assert raw.status_code == 400 and error_code(raw) == "invalid_input"


def test_fhir_refuses_a_nul_sent_as_text_plain(client, fhir_token):
    slot = f.SlotFactory()
    body = json.dumps(fhir_appointment(slot, name=[{"family": "V\x00", "given": ["A"]}]))
    response = client.post("/fhir/Appointment", body, content_type="text/plain", **fhir_token)
    assert response.status_code in (400, 415)
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not Booking.objects.filter(slot=slot).exists()


def test_a_multipart_text_field_is_checked_for_nul_too(client, olivia):
    client.force_login(olivia)
    before = Request.objects.count()
    response = client.post("/demandes/nouvelle/", {"last_name": "Du\x00pont", "first_name": "J"})
    assert response.status_code == 400
    assert Request.objects.count() == before


# --- content types, sizes ----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_fhir_refuses_an_unsupported_content_type_with_415(client, fhir_token, content_type):
    slot = f.SlotFactory()
    body = json.dumps(fhir_appointment(slot))
    if content_type.startswith("multipart"):
        response = client.post("/fhir/Appointment", {"x": body}, **fhir_token)
    else:
        response = client.post("/fhir/Appointment", body, content_type=content_type, **fhir_token)
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not Booking.objects.filter(slot=slot).exists()


@pytest.mark.parametrize(
    "content_type", ["application/fhir+json", "application/json; charset=utf-8"]
)
def test_fhir_accepts_fhir_json_and_json(client, fhir_token, content_type):
    slot = f.SlotFactory()
    response = client.post(
        "/fhir/Appointment",
        json.dumps(fhir_appointment(slot)),
        content_type=content_type,
        **fhir_token,
    )
    assert response.status_code == 201, response.content


def test_fhir_answers_406_to_an_accept_it_cannot_serve(client, fhir_token):
    refused = client.get("/fhir/metadata", HTTP_ACCEPT="application/fhir+xml")
    assert refused.status_code == 406
    assert refused.json()["resourceType"] == "OperationOutcome"
    for accept in ["application/fhir+json", "application/json", "*/*", "text/html, */*;q=0.8"]:
        assert client.get("/fhir/metadata", HTTP_ACCEPT=accept).status_code == 200


def test_it_refuses_a_body_over_the_size_limit_with_413(client, api_token, settings):
    settings.RELAIS_MAX_BODY_BYTES = 1024
    body = json.dumps({"motif_text": "x" * 2000})
    response = client.post("/api/v1/requests", body, content_type="application/json", **api_token)
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"


def test_it_lets_reasonable_nesting_through(client, api_token):
    response = client.post(
        "/api/v1/requests",
        json.dumps({"patient": {"x": [[[[{"y": [1]}]]]]}}),
        content_type="application/json",
        **api_token,
    )
    assert response.status_code in (400, 422)  # refused by the schema, not by the depth rule
    assert "imbriqué" not in response.content.decode()


def test_it_measures_json_depth_without_parsing():
    assert json_depth(b"{}") == 1
    assert json_depth(b'{"a": [1, {"b": []}]}') == 4
    assert json_depth(b'{"a": "[[[[[[[[[[ not brackets \\" [[[["}') == 1
    assert json_depth(DEEP.encode()) == 50_000
    assert json_depth(b"plain text") == 0


@pytest.mark.parametrize(
    "change",
    [
        {"slot": [{"reference": None, "display": "no reference"}]},
        {"participant": [{"actor": {"reference": None}, "status": "accepted"}]},
        {"identifier": [{"system": None, "value": "RDV-NULL-SYSTEM"}]},
        {
            "contained": [
                {"resourceType": "Patient", "id": "p1", "name": [{"family": "V", "given": [None]}]}
            ]
        },
    ],
    ids=["slot", "participant", "identifier-system", "given-null"],
)
def test_fhir_answers_4xx_to_references_left_out(client, fhir_token, change):
    """Found by the FHIR fuzz (2,000 examples): a slot without reference was a 500."""
    body = {**fhir_appointment(f.SlotFactory()), **change}
    response = client.post(
        "/fhir/Appointment", json.dumps(body), content_type="application/fhir+json", **fhir_token
    )
    assert response.status_code < 500
    if response.status_code >= 400:
        assert response.json()["resourceType"] == "OperationOutcome"


def test_it_answers_an_over_long_search_without_a_server_error(client, api_token, olivia):
    """Found by the black-box attacker (2026-12-01): 50,000+ characters in a search box made
    SQLite refuse the LIKE pattern ("too complex"), answered 503 as if the database were
    down. A prefix longer than any stored value matches nothing: answered empty."""
    huge = "a" * 60_000
    response = client.get("/api/v1/communes", {"q": huge}, **api_token)
    assert response.status_code == 200 and response.json() == []
    client.force_login(olivia)
    for url, data in (
        ("/territoire/communes/", {"commune": huge}),
        ("/annuaire/medecins/", {"medecin_traitant": huge}),
    ):
        response = client.get(url, data)
        assert response.status_code == 200, (url, response.status_code)
    response = client.post("/demandes/patients/", {"last_name": huge})
    assert response.status_code == 200
    assert "Même patient" not in response.content.decode()
