"""POST / PUT / GET /fhir/Appointment through the one booking service."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.audit.models import AuditEvent
from relais.orientation.models import Booking, BookingChannel, BookingStatus
from relais.regulation.models import Channel, Request, RequestStatus
from tests import factories as f
from tests.interop.conftest import bearer, make_token, validate, validate_bundle

pytestmark = pytest.mark.django_db
ID_SYSTEM = "https://sas.sante.fr/rdv"


def appointment(slot, ident="RDV-1", **extra) -> dict:
    body = {
        "resourceType": "Appointment",
        "identifier": [{"system": ID_SYSTEM, "value": ident}],
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.public_id}"}],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "p1",
                "name": [{"family": "Durand", "given": ["Lucie"]}],
                "birthDate": "1988-04-02",
                "telecom": [{"system": "phone", "value": "+33639981234"}],
                "address": [{"postalCode": "91100", "city": "Corbeil-Essonnes"}],
            }
        ],
        "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}],
        "reasonCode": [{"coding": [{"system": "urn:oid:1.2.250.1.213.2.10", "code": "A03"}]}],
    }
    body.update(extra)
    return body


def post(client, token, body):
    return client.post(
        "/fhir/Appointment", json.dumps(body), content_type="application/fhir+json", **bearer(token)
    )


def put(client, token, ident, body):
    return client.put(
        f"/fhir/Appointment?identifier={ID_SYSTEM}|{ident}",
        json.dumps(body),
        content_type="application/fhir+json",
        **bearer(token),
    )


@pytest.fixture
def token(cpts_a):
    f.commune("91174")
    return make_token("slots:read,appointments:read,appointments:write")


def test_it_books_a_free_slot_and_creates_the_request(client, token):
    slot = f.SlotFactory()
    response = post(client, token, appointment(slot))
    assert response.status_code == 201, response.content
    body = validate(response.json())
    assert body.status == "booked"
    assert body.identifier[0].value == "RDV-1"
    booking = Booking.objects.get()
    assert str(booking.public_id) == body.id
    assert booking.channel == BookingChannel.FHIR and booking.slot == slot
    req = booking.request
    assert req.channel == Channel.PHONE and req.status == RequestStatus.BOOKED
    assert req.motif.code == "A03"
    assert req.patient.last_name == "Durand" and req.patient.commune.insee == "91174"
    assert req.patient.phone == "0639981234"
    slot.refresh_from_db()
    assert slot.status == SlotStatus.BOOKED
    audit = AuditEvent.objects.get(
        api_client="plateforme-sas", action="create", object_type="fhir.Appointment"
    )
    assert audit.object_id == body.id


def test_it_is_idempotent_on_the_identifier(client, token):
    slot = f.SlotFactory()
    first = post(client, token, appointment(slot))
    again = post(client, token, appointment(slot))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Booking.objects.count() == 1 and Request.objects.count() == 1


def test_it_answers_409_when_the_slot_is_no_longer_free_and_leaves_no_orphan_request(client, token):
    slot = f.SlotFactory()
    assert post(client, token, appointment(slot)).status_code == 201
    response = post(client, token, appointment(slot, ident="RDV-2"))
    assert response.status_code == 409
    assert validate(response.json()).issue[0].code == "conflict"
    assert Request.objects.count() == 1


def test_it_refuses_an_identifier_reused_for_another_slot(client, token):
    slot, other = f.SlotFactory(), f.SlotFactory()
    assert post(client, token, appointment(slot)).status_code == 201
    assert post(client, token, appointment(other)).status_code == 409


def test_it_does_not_book_a_slot_closed_to_the_sas_and_partners(client, token):
    slot = f.SlotFactory(for_sas=False, for_cpts=False)
    assert post(client, token, appointment(slot)).status_code == 404


def test_it_does_not_book_outside_the_clients_territory(client, cpts_a, sas43):
    restricted = make_token("appointments:write", name="sas-43", sas_scope=[sas43])
    slot = f.SlotFactory()
    assert post(client, restricted, appointment(slot)).status_code == 404
    assert Booking.objects.count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"identifier": []},
        {"slot": []},
        {"status": "pas-un-statut"},
        {"resourceType": "Patient"},
    ],
)
def test_it_refuses_malformed_appointments_with_400(client, token, change):
    slot = f.SlotFactory()
    response = post(client, token, appointment(slot) | change)
    assert response.status_code == 400, response.content
    validate(response.json())


def test_it_refuses_a_body_that_is_not_json(client, token):
    response = client.post(
        "/fhir/Appointment", "pas du json", content_type="application/fhir+json", **bearer(token)
    )
    assert response.status_code == 400


def test_it_answers_422_without_a_patient(client, token):
    slot = f.SlotFactory()
    response = post(
        client, token, appointment(slot, contained=[], participant=[{"status": "accepted"}])
    )
    assert response.status_code == 422
    assert Booking.objects.count() == 0


def test_it_refuses_writes_to_a_read_only_token(client, cpts_a):
    token = make_token("slots:read,appointments:read")
    slot = f.SlotFactory()
    assert post(client, token, appointment(slot)).status_code == 403
    assert Booking.objects.count() == 0


def test_it_cancels_through_put_and_frees_the_slot(client, token):
    slot = f.SlotFactory()
    post(client, token, appointment(slot))
    body = appointment(slot, status="cancelled", cancelationReason={"text": "patient guéri"})
    response = put(client, token, "RDV-1", body)
    assert response.status_code == 200, response.content
    assert validate(response.json()).status == "cancelled"
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.request.__class__.objects.get(pk=booking.request_id).status == RequestStatus.OPEN
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE


def test_it_refuses_an_outcome_from_a_client_it_is_the_professionals(client, token):
    """Vu / non venu is recorded by the booking's professional (or délégataire) only
    (issue 14): a FHIR client's fulfilled / noshow is refused, nothing changes."""
    slot = f.SlotFactory()
    post(client, token, appointment(slot))
    Slot.objects.filter(pk=slot.pk).update(
        start=timezone.now() - timedelta(hours=1), end=timezone.now() - timedelta(minutes=40)
    )
    for status in ("fulfilled", "noshow"):
        response = put(client, token, "RDV-1", appointment(slot, status=status))
        assert response.status_code == 403, response.content
        assert response.json()["resourceType"] == "OperationOutcome"
    assert Booking.objects.get().status == BookingStatus.BOOKED
    assert Request.objects.get().status == RequestStatus.BOOKED
    again = put(client, token, "RDV-1", appointment(slot, status="booked"))
    assert again.status_code == 200  # same status: idempotent
    assert put(client, token, "RDV-1", appointment(slot, status="arrived")).status_code == 422


def test_it_cancels_only_within_the_clients_territory(client, cpts_a, sas43):
    f.commune("91174")
    national = make_token("appointments:read,appointments:write", name="national")
    slot = f.SlotFactory()
    assert post(client, national, appointment(slot)).status_code == 201
    # The same client later limited to Haute-Loire no longer reaches the Essonne request.
    from relais.accounts.models import ApiClient

    ApiClient.objects.get(name="national").sas_scope.add(sas43)
    response = put(client, national, "RDV-1", appointment(slot, status="cancelled"))
    assert response.status_code == 404
    assert Booking.objects.get().status == BookingStatus.BOOKED


def test_it_refuses_a_partners_only_slot_to_the_sas_platform(client, token):
    slot = f.SlotFactory(for_sas=False, for_cpts=False, for_partners=True)
    response = post(client, token, appointment(slot))
    assert response.status_code == 404
    assert not Booking.objects.exists() and not Request.objects.exists()


def test_it_answers_404_on_put_of_an_unknown_identifier(client, token):
    slot = f.SlotFactory()
    response = put(client, token, "INCONNU", appointment(slot, status="cancelled"))
    assert response.status_code == 404
    validate(response.json())


def test_it_lists_only_the_clients_own_appointments(client, token, cpts_a):
    slot, other_slot = f.SlotFactory(), f.SlotFactory()
    post(client, token, appointment(slot))
    other = make_token("appointments:write,appointments:read", name="logiciel-b")
    post(client, other, appointment(other_slot, ident="RDV-B"))
    mine = validate_bundle(
        client.get(
            "/fhir/Appointment", {"identifier": f"{ID_SYSTEM}|RDV-1"}, **bearer(token)
        ).json()
    )
    assert mine["total"] == 1
    assert mine["entry"][0]["resource"]["slot"][0]["reference"] == f"Slot/{slot.public_id}"
    theirs = client.get("/fhir/Appointment", {"identifier": f"{ID_SYSTEM}|RDV-B"}, **bearer(token))
    assert theirs.json()["total"] == 0
    everything = client.get("/fhir/Appointment", **bearer(token)).json()
    assert everything["total"] == 1
    booking_id = mine["entry"][0]["resource"]["id"]
    by_relais_id = client.get(
        "/fhir/Appointment", {"identifier": f"urn:relais:booking|{booking_id}"}, **bearer(token)
    ).json()
    assert by_relais_id["total"] == 1


def test_it_refuses_appointment_reads_to_a_slots_only_token(client, cpts_a):
    token = make_token("slots:read")
    assert client.get("/fhir/Appointment", **bearer(token)).status_code == 403


def test_the_location_header_reads_it_back_and_identifier_may_be_capitalised(client, token):
    """GET Appointment/<id> (the POST's Location), and the conditional PUT spelt
    `?Identifier=` as one page of the IG spells it."""
    slot = f.SlotFactory()
    created = post(client, token, appointment(slot, "RDV-LOC"))
    location = created["Location"].split("/fhir/", 1)[1]
    read = client.get(f"/fhir/{location}", **bearer(token))
    assert read.status_code == 200
    assert read.json()["id"] == created.json()["id"]
    other = make_token("appointments:read", name="autre-client")
    assert client.get(f"/fhir/{location}", **bearer(other)).status_code == 404
    response = client.put(
        f"/fhir/Appointment?Identifier={ID_SYSTEM}|RDV-LOC",
        json.dumps({**appointment(slot, "RDV-LOC"), "status": "cancelled"}),
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert response.status_code == 200, response.content
    assert Booking.objects.get().status == "cancelled"
