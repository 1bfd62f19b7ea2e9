"""Aggregation of a (fake, local) partner booking software; SMART Scheduling Links feed;
the slot deep-link page."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.interop.models import PartnerSource
from relais.interop.resources import iso
from relais.interop.services import partner_poll, partner_slot_book
from relais.orientation.models import Booking, BookingChannel
from relais.orientation.selectors import slots_ranked_for
from relais.orientation.services import SlotUnavailable
from tests import factories as f
from tests.conftest import login
from tests.interop.conftest import RPPS_SYSTEM, validate

pytestmark = pytest.mark.django_db


def partner_bundle(slots: list[tuple[str, str, object]]) -> dict:
    """A partner's INT_R01 answer: (slot id, rpps, start) triples."""
    entries = []
    for slot_id, rpps, start in slots:
        entries += [
            {
                "resource": {
                    "resourceType": "Slot",
                    "id": slot_id,
                    "meta": {"security": [{"code": "SNP"}]},
                    "serviceType": [{"coding": [{"code": "VR"}]}],
                    "schedule": {"reference": f"Schedule/s-{rpps}"},
                    "status": "free",
                    "start": iso(start),
                    "end": iso(start + timedelta(minutes=15)),
                }
            },
            {
                "resource": {
                    "resourceType": "Schedule",
                    "id": f"s-{rpps}",
                    "actor": [{"reference": f"Practitioner/p-{rpps}"}],
                }
            },
            {
                "resource": {
                    "resourceType": "Practitioner",
                    "id": f"p-{rpps}",
                    "identifier": [{"system": RPPS_SYSTEM, "value": f"8{rpps}"}],
                }
            },
        ]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


@pytest.fixture
def partner(fake_endpoint, cpts_a):
    return PartnerSource.objects.create(name="agenda-x", base_url=fake_endpoint.url, token="tok")


def test_it_polls_by_batches_of_25_and_mirrors_free_slots(partner, fake_endpoint, snp_request):
    pros = [f.ProfessionalFactory() for _ in range(30)]
    start = timezone.now() + timedelta(hours=2)
    offered = [("ext-1", pros[0].rpps, start), ("ext-2", pros[29].rpps, start)]
    fake_endpoint.responder = lambda m, path, b: (200, partner_bundle(offered))
    stats = partner_poll(source=partner)
    assert stats["batches"] == 2 and stats["errors"] == 0
    first_query = parse_qs(urlsplit(fake_endpoint.calls[0][1]).query)
    assert len(first_query["schedule.actor:Practitioner.identifier"][0].split(",")) == 25
    assert first_query["status"] == ["free"]
    assert fake_endpoint.calls[0][3]["Authorization"] == "Bearer tok"
    mirrored = Slot.objects.filter(source="agenda-x")
    assert sorted(mirrored.values_list("external_id", flat=True)) == ["ext-1", "ext-2"]
    assert mirrored.get(external_id="ext-1").modality == "teleconsultation"
    # The gathered slots appear in the ranked search, with their source.
    ranked = slots_ranked_for(request=snp_request, limit=50)
    assert "agenda-x" in {r.slot.source for r in ranked}
    # Next poll: ext-2 is gone at the partner, so its mirror is closed.
    offered.pop()
    stats = partner_poll(source=partner)
    assert stats["closed"] == 1
    assert Slot.objects.get(external_id="ext-2").status == SlotStatus.BLOCKED


def test_it_records_a_partner_that_does_not_answer(partner, fake_endpoint):
    f.ProfessionalFactory()
    fake_endpoint.responder = lambda m, p, b: (500, {})
    stats = partner_poll(source=partner)
    assert stats["errors"] == 1
    partner.refresh_from_db()
    assert partner.last_error == "HTTP 500"


def mirrored_slot(partner):
    pro = f.ProfessionalFactory()
    return f.SlotFactory(professional=pro, source=partner.name, external_id="ext-9")


def test_it_books_a_partner_slot_through_the_partners_post_appointment(
    partner, fake_endpoint, snp_request
):
    slot = mirrored_slot(partner)
    fake_endpoint.responder = lambda m, p, body: (201, body)
    booking = partner_slot_book(request=snp_request, slot=slot)
    assert booking.channel == BookingChannel.PARTNER
    method, path, body, _ = fake_endpoint.calls[-1]
    assert (method, path) == ("POST", "/fhir/Appointment")
    assert body["slot"] == [{"reference": "Slot/ext-9"}]
    assert body["contained"][0]["name"][0]["family"] == snp_request.patient.last_name
    validate(body)


def test_it_closes_the_mirror_when_the_partner_refuses(partner, fake_endpoint, snp_request):
    slot = mirrored_slot(partner)
    fake_endpoint.responder = lambda m, p, b: (409, {"resourceType": "OperationOutcome"})
    with pytest.raises(SlotUnavailable):
        partner_slot_book(request=snp_request, slot=slot)
    # Nothing was booked in Relais before the partner confirmed: nothing to cancel.
    assert not Booking.objects.exists()
    slot.refresh_from_db()
    snp_request.refresh_from_db()
    assert slot.status == SlotStatus.BLOCKED and snp_request.status == "open"


def test_it_publishes_the_smart_scheduling_links_feed(client, cpts_a):
    public = f.SlotFactory(for_public=True)
    f.SlotFactory(professional=public.professional, start=public.start + timedelta(hours=1))
    manifest = client.get("/fhir/$bulk-publish").json()
    assert [o["type"] for o in manifest["output"]] == ["Location", "Schedule", "Slot"]
    found = {}
    for output in manifest["output"]:
        path = urlsplit(output["url"]).path
        response = client.get(path)
        assert response["Content-Type"] == "application/fhir+ndjson"
        found[output["type"]] = [
            # A file on disk since issue 14 (item 11): streamed, read it as such.
            json.loads(line)
            for line in b"".join(response.streaming_content).decode().splitlines()
        ]
        for resource in found[output["type"]]:
            validate(resource)
    assert [s["id"] for s in found["Slot"]] == [str(public.public_id)]  # only public slots
    assert len(found["Location"]) == 1 and len(found["Schedule"]) == 1
    assert found["Schedule"][0]["actor"][0]["reference"] == f"Location/{found['Location'][0]['id']}"
    assert client.get("/fhir/bulk/Patient.ndjson").status_code == 404


def test_it_opens_the_deep_link_for_an_operator_of_the_territory(client, olivia, cpts_a):
    slot = f.SlotFactory()
    response = login(client, olivia).get(f"/interop/creneaux/{slot.public_id}/?origin=sas")
    assert response.status_code == 200
    assert slot.professional.last_name in response.content.decode()


def test_it_refuses_the_deep_link_to_other_roles_and_territories(client, dr_alice, oscar, cpts_a):
    slot = f.SlotFactory()
    assert (
        login(client, dr_alice.user).get(f"/interop/creneaux/{slot.public_id}/").status_code == 403
    )
    assert login(client, oscar).get(f"/interop/creneaux/{slot.public_id}/").status_code == 404
    client.logout()
    assert client.get(f"/interop/creneaux/{slot.public_id}/").status_code == 302


# --- partners bounded (issue 14, item 7) -------------------------------------------------------


def test_it_mirrors_only_the_rpps_the_source_is_configured_for(fake_endpoint, cpts_a, sas43):
    """The attack: a source configured for one Essonne RPPS answers with slots of a
    Haute-Loire doctor too. Before the fix: 2 slots mirrored; after: 1, the other skipped."""
    essonne = f.ProfessionalFactory()
    haute_loire = f.ProfessionalFactory(practice_in="43157")
    source = PartnerSource.objects.create(
        name="agenda-y", base_url=fake_endpoint.url, token="tok", rpps=[essonne.rpps]
    )
    start = timezone.now() + timedelta(hours=2)
    offered = [("ext-91", essonne.rpps, start), ("ext-43", haute_loire.rpps, start)]
    fake_endpoint.responder = lambda m, path, b: (200, partner_bundle(offered))
    stats = partner_poll(source=source)
    mirrored = Slot.objects.filter(source="agenda-y")
    assert list(mirrored.values_list("external_id", flat=True)) == ["ext-91"]
    assert stats["created"] == 1 and stats["foreign"] == 1


def test_it_mirrors_only_the_rpps_of_the_batch_asked(partner, fake_endpoint, cpts_a):
    """A source without an RPPS list follows every active professional, but an answer
    naming an RPPS Relais did not ask in that batch is skipped too."""
    asked = f.ProfessionalFactory()
    unknown_rpps = "10000000001"
    start = timezone.now() + timedelta(hours=2)
    offered = [("ext-a", asked.rpps, start), ("ext-b", unknown_rpps, start)]
    fake_endpoint.responder = lambda m, path, b: (200, partner_bundle(offered))
    stats = partner_poll(source=partner)
    assert stats["created"] == 1 and stats["foreign"] == 1


def test_it_sends_no_confirmation_when_the_partner_refuses(partner, fake_endpoint, snp_request):
    """The attack: the partner refuses, yet the patient and doctor were texted. Before the
    fix: 3 messages in the outbox; after: 0, and no booking row at all."""
    from relais.notifications.models import Notification

    slot = mirrored_slot(partner)
    fake_endpoint.responder = lambda m, p, b: (409, {"resourceType": "OperationOutcome"})
    with pytest.raises(SlotUnavailable):
        partner_slot_book(request=snp_request, slot=slot)
    assert Notification.objects.count() == 0
    assert not Booking.objects.exists()


def test_it_writes_the_confirmation_once_the_partner_accepted(
    partner, fake_endpoint, snp_request, monkeypatch
):
    from relais.interop import services as interop_services
    from relais.notifications.models import Notification

    slot = mirrored_slot(partner)
    seen, real_http = [], interop_services._http

    def http(method, url, **kwargs):
        # While the partner decides, nothing is written for the patient or the doctor.
        seen.append((Notification.objects.count(), Booking.objects.count()))
        return real_http(method, url, **kwargs)

    monkeypatch.setattr(interop_services, "_http", http)
    fake_endpoint.responder = lambda m, p, body: (201, body)
    booking = partner_slot_book(request=snp_request, slot=slot)
    assert seen == [(0, 0)]
    assert Notification.objects.filter(booking=booking).count() == 3
    # The appointment sent to the partner carries the Relais booking id it then got.
    body = fake_endpoint.calls[-1][2]
    assert str(booking.public_id) in json.dumps(body)


def test_it_refuses_a_partner_slot_outside_the_callers_territory(
    partner, fake_endpoint, snp_request, oscar
):
    slot = mirrored_slot(partner)
    fake_endpoint.responder = lambda m, p, body: (201, body)
    from relais.core.errors import ApplicationError

    with pytest.raises(ApplicationError):
        partner_slot_book(request=snp_request, slot=slot, operator=oscar)
    assert fake_endpoint.calls == [] and not Booking.objects.exists()


def test_it_refuses_a_fhir_booking_of_a_partner_slot_behind_the_partners_back(
    client, partner, fake_endpoint
):
    """The national platform books through FHIR: a mirrored slot (open to the SAS here)
    is first offered to the partner (issue 16, item 9), and without its confirmation
    (here an OperationOutcome, not an Appointment) nothing is booked: never given twice."""
    import json

    from relais.agenda.models import Slot, SlotStatus
    from tests.interop.conftest import bearer, make_token

    f.commune("91174")
    token = make_token("slots:read,appointments:read,appointments:write")
    slot = mirrored_slot(partner)
    body = {
        "resourceType": "Appointment",
        "identifier": [{"system": "https://sas.sante.fr/rdv", "value": "RDV-P1"}],
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.public_id}"}],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "p1",
                "name": [{"family": "Durand", "given": ["Lucie"]}],
                "telecom": [{"system": "phone", "value": "+33639981234"}],
                "address": [{"postalCode": "91100", "city": "Corbeil-Essonnes"}],
            }
        ],
        "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}],
    }
    response = client.post(
        "/fhir/Appointment", json.dumps(body), content_type="application/fhir+json", **bearer(token)
    )
    assert response.status_code == 409, response.content
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not Booking.objects.exists()
    assert [c[:2] for c in fake_endpoint.calls] == [("POST", "/fhir/Appointment")]
    assert Slot.objects.get(pk=slot.pk).status == SlotStatus.BLOCKED
