import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relais.accounts.models import ApiClient
from relais.orientation.models import Booking
from tests import factories as f

pytestmark = pytest.mark.django_db


def make_token(scopes: str, name: str = "logiciel-agenda") -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_api_client", name=name, scopes=scopes, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def auth(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_it_creates_a_client_and_prints_the_token_alone_on_the_last_line():
    token = make_token("slots:read,appointments:write")
    assert token.startswith("rls_") and " " not in token
    client = ApiClient.objects.get(name="logiciel-agenda")
    assert client.scopes == ["appointments:write", "slots:read"]
    assert token not in client.token_hash  # stored hashed


@pytest.mark.parametrize("scopes", ["", "everything", "slots:read,admin"])
def test_it_refuses_unknown_scopes(scopes):
    with pytest.raises(CommandError):
        call_command("create_api_client", name="x", scopes=scopes)


def test_it_serves_the_openapi_schema(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/bookings" in paths
    assert "/api/v1/requests/{request_id}/slots" in paths


def test_it_requires_authentication(client):
    response = client.get("/api/v1/communes?q=evry")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/communes?q=evry", **auth("rls_wrong")).status_code == 401


def test_it_runs_the_whole_flow_with_a_token(client, cpts_a):
    token = make_token("requests:write,appointments:write")
    slot = f.SlotFactory()
    payload = {
        "patient": {
            "first_name": "Lucie",
            "last_name": "Durand",
            "phone": "0639981234",
            "commune_insee": "91228",
        },
        "motif_code": "a03",
        "urgency": "12-24h",
    }
    created = client.post(
        "/api/v1/requests", json.dumps(payload), content_type="application/json", **auth(token)
    )
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    assert created.json()["motif_code"] == "A03"
    slots = client.get(f"/api/v1/requests/{request_id}/slots", **auth(token)).json()
    assert [s["id"] for s in slots] == [str(slot.public_id)]
    body = json.dumps({"request": request_id, "slot": str(slot.public_id)})
    headers = auth(token) | {"HTTP_IDEMPOTENCY_KEY": "abc-1"}
    booked = client.post("/api/v1/bookings", body, content_type="application/json", **headers)
    assert booked.status_code == 201
    replay = client.post("/api/v1/bookings", body, content_type="application/json", **headers)
    assert replay.status_code == 201
    assert replay.json()["id"] == booked.json()["id"]
    assert Booking.objects.count() == 1


def test_it_answers_409_with_alternatives_when_the_slot_is_taken(client, cpts_a):
    from relais.orientation.services import booking_create

    token = make_token("requests:read,appointments:write")
    slot, spare = f.SlotFactory(), f.SlotFactory()
    req = f.RequestFactory()
    # The caller ranked the slots of the request (both free then), then one was taken.
    ranked = client.get(f"/api/v1/requests/{req.public_id}/slots", **auth(token)).json()
    assert {r["id"] for r in ranked} == {str(slot.public_id), str(spare.public_id)}
    booking_create(request=f.RequestFactory(), slot=slot)
    body = json.dumps({"request": str(req.public_id), "slot": str(slot.public_id)})
    response = client.post("/api/v1/bookings", body, content_type="application/json", **auth(token))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "slot_unavailable"
    assert error["message"] == "Créneau plus disponible."
    # Alternatives: the still-free slots of that ranking (no new search in the refusal).
    assert [a["id"] for a in error["alternatives"]] == [str(spare.public_id)]
    assert error["alternatives_url"] == f"/api/v1/requests/{req.public_id}/slots"


def test_a_409_without_a_ranking_seen_runs_no_search_and_links_it(client, cpts_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from relais.orientation.services import booking_create

    token = make_token("requests:read,appointments:write")
    slot, spare = f.SlotFactory(), f.SlotFactory()
    booking_create(request=f.RequestFactory(), slot=slot)
    req = f.RequestFactory()
    body = json.dumps({"request": str(req.public_id), "slot": str(slot.public_id)})
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            "/api/v1/bookings", body, content_type="application/json", **auth(token)
        )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["alternatives"] == []
    url = error["alternatives_url"]
    searches = [q for q in queries if '"agenda_slot"."start" >=' in q["sql"]]
    assert searches == []
    # The link gives the ranked search, where the spare slot is.
    assert str(spare.public_id) in {r["id"] for r in client.get(url, **auth(token)).json()}


def test_a_409_leaves_out_the_slots_of_the_ranking_taken_since(client, cpts_a):
    from relais.orientation.services import booking_create

    token = make_token("requests:read,appointments:write")
    slot, taken, spare = f.SlotFactory(), f.SlotFactory(), f.SlotFactory()
    req = f.RequestFactory()
    assert len(client.get(f"/api/v1/requests/{req.public_id}/slots", **auth(token)).json()) == 3
    booking_create(request=f.RequestFactory(), slot=slot)
    booking_create(request=f.RequestFactory(), slot=taken)
    body = json.dumps({"request": str(req.public_id), "slot": str(slot.public_id)})
    response = client.post("/api/v1/bookings", body, content_type="application/json", **auth(token))
    assert [a["id"] for a in response.json()["error"]["alternatives"]] == [str(spare.public_id)]
    # A caller with other rights (another scope) never gets this caller's ranking.
    other = make_token("requests:read,appointments:write,motifs:read", name="autre-logiciel")
    response = client.post("/api/v1/bookings", body, content_type="application/json", **auth(other))
    assert response.json()["error"]["alternatives"] == []


def test_it_refuses_a_scope_the_token_lacks(client, cpts_a):
    token = make_token("slots:read")
    req = f.RequestFactory()
    response = client.get(f"/api/v1/requests/{req.public_id}", **auth(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_it_answers_structured_validation_errors(client, cpts_a):
    token = make_token("requests:write")
    response = client.post(
        "/api/v1/requests",
        json.dumps({"patient": {"first_name": ""}, "urgency": "demain"}),
        content_type="application/json",
        **auth(token),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    unknown = client.post(
        "/api/v1/requests",
        json.dumps(
            {
                "patient": {"first_name": "A", "last_name": "B", "commune_insee": "00000"},
                "motif_text": "toux",
            }
        ),
        content_type="application/json",
        **auth(token),
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_commune"


def test_it_accepts_the_session_of_an_operator(client, olivia, cpts_a):
    req = f.RequestFactory()
    client.force_login(olivia)
    response = client.get(f"/api/v1/requests/{req.public_id}")
    assert response.status_code == 200
    assert response.json()["reference"] == req.reference


def test_it_serves_the_api_docs_without_any_cdn(client, olivia):
    client.force_login(olivia)
    page = client.get("/api/v1/docs").content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()


def test_it_holds_and_releases_a_slot_for_an_operator_session(client, olivia, regis, cpts_a):
    req, slot = f.RequestFactory(), f.SlotFactory()
    client.force_login(olivia)
    body = json.dumps({"request": str(req.public_id), "slot": str(slot.public_id)})
    held = client.post("/api/v1/holds", body, content_type="application/json")
    assert held.status_code == 201 and held.json()["slot"] == str(slot.public_id)
    client.force_login(regis)
    taken = client.post("/api/v1/holds", body, content_type="application/json")
    assert taken.status_code == 409
    assert client.delete(f"/api/v1/holds/{slot.public_id}").status_code == 404
    client.force_login(olivia)
    assert client.delete(f"/api/v1/holds/{slot.public_id}").status_code == 204


def test_it_refuses_holds_to_api_clients(client, cpts_a):
    token = make_token("requests:read,appointments:write")
    req, slot = f.RequestFactory(), f.SlotFactory()
    body = json.dumps({"request": str(req.public_id), "slot": str(slot.public_id)})
    response = client.post("/api/v1/holds", body, content_type="application/json", **auth(token))
    assert response.status_code == 403


def test_it_launches_niveau2_and_addresses_surnumeraire_through_the_api(client, cpts_a):
    from datetime import timedelta

    from django.utils import timezone

    token = make_token("requests:read,appointments:write")
    f.ProfessionalFactory(cpts_level2=True)
    req = f.RequestFactory()
    launched = client.post(f"/api/v1/requests/{req.public_id}/level2", **auth(token))
    assert launched.status_code == 201
    assert launched.json()["status"] == "open" and launched.json()["offers"] == 1
    listed = client.get(f"/api/v1/requests/{req.public_id}/level2", **auth(token)).json()
    assert [c["id"] for c in listed] == [launched.json()["id"]]
    doctor = f.ProfessionalFactory(accepts_surnumeraire=True)
    other = f.RequestFactory()
    body = json.dumps(
        {
            "professional": str(doctor.public_id),
            "start": (timezone.now() + timedelta(hours=2)).isoformat(),
        }
    )
    response = client.post(
        f"/api/v1/requests/{other.public_id}/surnumeraire",
        body,
        content_type="application/json",
        **auth(token),
    )
    assert response.status_code == 201
    assert response.json()["professional"] == doctor.display_name


def test_it_throttles_a_client_beyond_its_rate_limit(client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.RELAIS_API_RATE_LIMIT = 2
    token = make_token("motifs:read")
    codes = [
        client.get("/api/v1/motifs/suggest", {"q": "toux"}, **auth(token)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    throttled = client.get("/api/v1/motifs/suggest", {"q": "toux"}, **auth(token))
    assert throttled.json()["error"]["code"] == "throttled"


def test_it_audits_every_call_of_a_partner(client, cpts_a):
    from relais.audit.models import AuditEvent

    token = make_token("motifs:read", name="logiciel-audite")
    client.get("/api/v1/motifs/suggest", {"q": "toux"}, **auth(token))
    event = AuditEvent.objects.get(api_client="logiciel-audite", action="api")
    assert event.object_id == "GET /api/v1/motifs/suggest"
