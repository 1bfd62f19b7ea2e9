"""Partner aggregation a real editor can serve (issue 16, item 9), against a mock
partner (tests.interop.mock_partner: a real HTTP FHIR stand-in on 127.0.0.1): mirrored
at the partner's Location with its booking link and modality; a WALKIN plage never
booked as an exact slot; a mirror never confirmed in Relais without the partner,
whatever the door (our own FHIR POST /fhir/Appointment included); handover by link
where the editor has no booking call; the schedule of the polls."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.audit.models import AuditEvent
from relais.directory.models import Practice
from relais.interop.models import PartnerSlot, PartnerSource
from relais.interop.services import (
    PartnerHandover,
    partner_poll,
    partner_slot_book,
    partner_source_set_active,
    partner_source_test,
    partners_poll_due,
)
from relais.orientation.models import Booking, BookingChannel
from relais.orientation.services import SlotUnavailable, booking_place
from relais.regulation.models import Request
from tests import factories as f
from tests.interop.conftest import bearer, make_token
from tests.interop.mock_partner import MockPartner
from tests.interop.mock_partner import PartnerSlot as Offer

pytestmark = pytest.mark.django_db


@pytest.fixture
def mock(fake_endpoint, cpts_a):
    f.commune("91174")  # Corbeil-Essonnes, the partner's Location
    return MockPartner(fake_endpoint)


@pytest.fixture
def source(mock, sas91):
    return PartnerSource.objects.create(name="agenda-z", base_url=mock.url, token="tok", sas=sas91)


@pytest.fixture
def doctor(cpts_a):
    return f.ProfessionalFactory(cpts=cpts_a)  # practice in Évry (91228)


def soon(hours=3):
    return timezone.now() + timedelta(hours=hours)


def fhir_post(client, token, slot, ident="RDV-1"):
    body = {
        "resourceType": "Appointment",
        "identifier": [{"system": "https://sas.sante.fr/rdv", "value": ident}],
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
    return client.post(
        "/fhir/Appointment", json.dumps(body), content_type="application/fhir+json", **bearer(token)
    )


def test_it_mirrors_at_the_partners_location_not_the_first_practice(mock, source, doctor):
    home = doctor.practices.get()
    mock.add(Offer("a1", doctor.rpps, soon()))
    mock.add(Offer("a2", doctor.rpps, soon(4)))
    stats = partner_poll(source=source)
    assert stats["created"] == 2
    slots = Slot.objects.filter(source="agenda-z")
    places = {s.practice for s in slots}
    assert len(places) == 1
    place = places.pop()
    assert place != home
    assert place.commune.insee == "91174" and place.address == "12 quai de l'Essonne"
    assert doctor in place.professionals.all()
    # The next poll finds the same practice again: no duplicate.
    partner_poll(source=source)
    assert Practice.objects.filter(name="Centre de santé du Canal").count() == 1


def test_it_keeps_the_partners_deep_link_and_drops_unsafe_ones(mock, source, doctor):
    mock.add(Offer("a1", doctor.rpps, soon(), deep_link="https://agenda.example/rdv/a1"))
    mock.add(Offer("a2", doctor.rpps, soon(4), deep_link="javascript:alert(1)"))
    partner_poll(source=source)
    links = dict(PartnerSlot.objects.values_list("slot__external_id", "deep_link"))
    assert links == {"a1": "https://agenda.example/rdv/a1", "a2": ""}


def test_it_takes_the_modality_from_the_service_type(mock, source, doctor):
    mock.add(Offer("vr", doctor.rpps, soon(), service_type={"coding": [{"code": "VR"}]}))
    mock.add(Offer("hh", doctor.rpps, soon(4), service_type={"coding": [{"code": "HH"}]}))
    mock.add(Offer("tx", doctor.rpps, soon(5), service_type={"text": "Téléconsultation"}))
    mock.add(Offer("amb", doctor.rpps, soon(6)))
    partner_poll(source=source)
    got = dict(Slot.objects.filter(source="agenda-z").values_list("external_id", "modality"))
    assert got == {
        "vr": "teleconsultation",
        "hh": "visite",
        "tx": "teleconsultation",
        "amb": "cabinet",
    }


def test_it_never_books_a_walkin_plage_as_an_exact_slot(client, mock, source, doctor, snp_request):
    mock.add(
        Offer(
            "w1",
            doctor.rpps,
            soon(),
            minutes=120,
            appointment_type="WALKIN",
            deep_link="https://agenda.example/plage/w1",
        )
    )
    partner_poll(source=source)
    slot = Slot.objects.get(external_id="w1")
    assert slot.partner_mirror.walkin and slot.is_plage
    from relais.interop.resources import slot_resource

    assert slot_resource(slot)["appointmentType"]["coding"][0]["code"] == "WALKIN"
    calls_before = len(mock.endpoint.calls)
    with pytest.raises(PartnerHandover) as refused:
        partner_slot_book(request=snp_request, slot=slot)
    assert refused.value.deep_link == "https://agenda.example/plage/w1"
    token = make_token("slots:read,appointments:read,appointments:write")
    response = fhir_post(client, token, slot)
    assert response.status_code == 409
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "https://agenda.example/plage/w1" in json.dumps(outcome)
    # The partner was never asked, nothing was booked or left in the worklist.
    assert len(mock.endpoint.calls) == calls_before
    assert not Booking.objects.exists()
    assert Request.objects.count() == 1  # snp_request only
    assert Slot.objects.get(pk=slot.pk).status == SlotStatus.FREE


def test_it_books_our_own_fhir_post_through_the_partner(client, mock, source, doctor):
    mock.add(Offer("a1", doctor.rpps, soon()))
    partner_poll(source=source)
    slot = Slot.objects.get(external_id="a1")
    token = make_token("slots:read,appointments:read,appointments:write")
    response = fhir_post(client, token, slot)
    assert response.status_code == 201, response.content
    booking = Booking.objects.get()
    assert booking.channel == BookingChannel.PARTNER and booking.slot == slot
    # The partner confirmed first: its slot is taken there too.
    assert mock.slots["a1"].status == "busy"
    assert mock.appointments[0]["slot"] == [{"reference": "Slot/a1"}]
    # A replay of the same identifier answers the same booking, without asking again.
    posts = [c for c in mock.endpoint.calls if c[0] == "POST"]
    again = fhir_post(client, token, slot)
    assert again.status_code == 200
    assert [c for c in mock.endpoint.calls if c[0] == "POST"] == posts


def test_it_leaves_nothing_when_the_partner_refuses_our_fhir_post(client, mock, source, doctor):
    """The double booking: the hour was given at the partner meanwhile. Before issue 16
    item 9 the FHIR POST was either booked behind its back or refused blindly; now the
    partner is asked, says no, and nothing stays in Relais."""
    mock.add(Offer("a1", doctor.rpps, soon()))
    partner_poll(source=source)
    mock.slots["a1"].status = "busy"  # taken at the partner since the last poll
    slot = Slot.objects.get(external_id="a1")
    token = make_token("slots:read,appointments:read,appointments:write")
    response = fhir_post(client, token, slot)
    assert response.status_code == 409
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not Booking.objects.exists()
    assert not Request.objects.exists()  # no orphan request in the worklist
    assert Slot.objects.get(pk=slot.pk).status == SlotStatus.BLOCKED
    refused = AuditEvent.objects.filter(action="refused", api_client="plateforme-sas").get()
    assert refused.reason == "refusé par agenda-z"
    assert [c[1] for c in mock.endpoint.calls if c[0] == "POST"] == ["/fhir/Appointment"]


def test_it_hands_over_by_link_when_the_editor_has_no_booking_call(
    client, mock, source, doctor, snp_request
):
    source.booking_mode = "link"
    source.save(update_fields=["booking_mode"])
    mock.add(Offer("a1", doctor.rpps, soon(), deep_link="https://agenda.example/rdv/a1"))
    partner_poll(source=source)
    slot = Slot.objects.get(external_id="a1")
    with pytest.raises(PartnerHandover) as handed:
        booking_place(request=snp_request, slot=slot)  # the console's and the API's door
    assert handed.value.deep_link == "https://agenda.example/rdv/a1"
    token = make_token("slots:read,appointments:read,appointments:write")
    assert fhir_post(client, token, slot).status_code == 409
    assert not [c for c in mock.endpoint.calls if c[0] == "POST"]
    assert not Booking.objects.exists()


def test_it_closes_the_mirrors_of_a_disabled_source_and_refuses_them(
    client, mock, source, doctor, snp_request, regis
):
    mock.add(Offer("a1", doctor.rpps, soon()))
    partner_poll(source=source)
    slot = Slot.objects.get(external_id="a1")
    partner_source_set_active(source=source, active=False, user=regis)
    assert Slot.objects.get(pk=slot.pk).status == SlotStatus.BLOCKED
    # Even reopened by hand, a mirror of a source that is off is never booked here.
    Slot.objects.filter(pk=slot.pk).update(status=SlotStatus.FREE)
    slot.refresh_from_db()
    with pytest.raises(PartnerHandover):
        partner_slot_book(request=snp_request, slot=slot)
    token = make_token("slots:read,appointments:read,appointments:write")
    assert fhir_post(client, token, slot).status_code == 409
    assert not Booking.objects.exists()


def test_it_polls_each_source_on_its_own_schedule_once(mock, source, doctor, sas91):
    other = PartnerSource.objects.create(
        name="agenda-off", base_url=mock.url, active=False, sas=sas91
    )
    mock.add(Offer("a1", doctor.rpps, soon()))
    now = timezone.now()
    done = partners_poll_due(now=now)
    assert list(done) == ["agenda-z"]
    source.refresh_from_db()
    assert source.next_poll_at == now + timedelta(minutes=15)
    assert source.last_success_at is not None and source.last_stats["created"] == 1
    # A second run of the schedule right away polls nobody (already claimed) ...
    assert partners_poll_due(now=now + timedelta(minutes=1)) == {}
    # ... and the source's turn comes back after its interval.
    assert list(partners_poll_due(now=now + timedelta(minutes=15))) == ["agenda-z"]
    other.refresh_from_db()
    assert other.last_polled_at is None


def test_it_polls_from_the_command_of_the_timer(mock, source, doctor):
    from io import StringIO

    mock.add(Offer("a1", doctor.rpps, soon()))
    out = StringIO()
    call_command("poll_partners", stdout=out)
    assert "agenda-z" in out.getvalue() and "created 1" in out.getvalue()


def test_it_follows_only_its_sas_territory_without_an_rpps_list(mock, source, doctor, sas43):
    f.ProfessionalFactory(practice_in="43157")  # Haute-Loire: not this source's SAS
    mock.add(Offer("a1", doctor.rpps, soon()))
    partner_poll(source=source)
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(mock.endpoint.calls[0][1]).query)
    asked = query["schedule.actor:Practitioner.identifier"][0].split(",")
    assert asked == [f"urn:oid:1.2.250.1.71.4.2.1|8{doctor.rpps}"]


def test_it_tests_the_connection(mock, source, regis):
    ok, message = partner_source_test(source=source, user=regis)
    assert ok and "FHIR 4.0.1" in message
    mock.endpoint.responder = lambda m, p, b: (401, {"resourceType": "OperationOutcome"})
    ok, message = partner_source_test(source=source, user=regis)
    assert not ok and "jeton" in message
    source.refresh_from_db()
    assert source.last_test_result == message
    source.base_url = "http://127.0.0.1:9/fhir"  # nothing listens there
    ok, message = partner_source_test(source=source, user=regis)
    assert not ok and message.startswith("Connexion impossible")


def test_it_refuses_a_partner_answer_that_is_not_an_appointment(mock, source, doctor, snp_request):
    mock.add(Offer("a1", doctor.rpps, soon()))
    partner_poll(source=source)
    slot = Slot.objects.get(external_id="a1")
    mock.endpoint.responder = lambda m, p, b: (200, {"resourceType": "OperationOutcome"})
    with pytest.raises(SlotUnavailable):
        partner_slot_book(request=snp_request, slot=slot)
    assert not Booking.objects.exists()


def test_it_publishes_a_public_mirror_with_the_partners_own_link(mock, source, doctor):
    """SMART "Slot Aggregators": an aggregated public slot keeps the partner's booking
    link, in the feed and on the public page (booked there, not in Relais)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import time_machine
    from django.test import Client

    from relais.interop.smart import smart_resources

    cpts = doctor.cpts
    cpts.service_hours = {str(d): [["08:00", "20:00"]] for d in range(1, 8)}
    cpts.save(update_fields=["service_hours"])
    with time_machine.travel(datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))):
        mock.add(Offer("p1", doctor.rpps, soon(), deep_link="https://agenda.example/rdv/p1"))
        partner_poll(source=source)
        Slot.objects.filter(external_id="p1").update(for_public=True)
        slot = Slot.objects.select_related("partner_mirror", "practice", "professional").get(
            external_id="p1"
        )
        feed_slot = next(smart_resources("Slot", [slot]))
        links = [
            e["valueUrl"] for e in feed_slot["extension"] if e["url"].endswith("booking-deep-link")
        ]
        assert links == ["https://agenda.example/rdv/p1"]
        page = Client().get(f"/interop/rdv/{slot.public_id}/").content.decode()
    assert 'href="https://agenda.example/rdv/p1"' in page
    assert "/demande-en-ligne/" not in page


def test_it_never_creates_a_place_outside_the_sources_sas(fake_endpoint, source, doctor):
    """The partner of SAS 91 places a slot in Haute-Loire: no practice is created there
    (it would bring the doctor into SAS 43's territory); the slot is skipped."""
    f.commune("43157")
    mock = MockPartner(
        fake_endpoint,
        locations={
            "loc-43": {
                "resourceType": "Location",
                "id": "loc-43",
                "name": "Cabinet du Puy",
                "address": {
                    "line": ["1 rue Haute"],
                    "postalCode": "43000",
                    "city": "Le Puy-en-Velay",
                },
            }
        },
    )
    mock.add(Offer("x1", doctor.rpps, soon(), location="loc-43"))
    stats = partner_poll(source=source)
    assert stats["created"] == 0 and stats["skipped"] == 1
    assert not Practice.objects.filter(name="Cabinet du Puy").exists()
    assert list(doctor.practices.values_list("commune__insee", flat=True)) == ["91228"]


def test_the_sas_slot_search_gives_a_mirrors_partner_link_in_slot_comment(
    client, mock, source, doctor
):
    """Slot.comment of a mirrored slot is the partner's own booking link (as the SMART
    feed), never our SAS link that would book it in Relais; our own slots keep ours."""
    from relais.interop.regulators import _slot_of_link
    from tests.interop.test_fhir_slots import sas_query

    own = f.SlotFactory(professional=doctor, start=soon(5))
    mock.add(Offer("c1", doctor.rpps, soon(), deep_link="https://agenda.example/rdv/c1"))
    mock.add(Offer("c2", doctor.rpps, soon(4)))  # no link at the partner: ours
    partner_poll(source=source)
    token = make_token("slots:read")
    bundle = client.get("/fhir/Slot", sas_query(doctor.rpps), **bearer(token)).json()
    comments = {
        e["resource"]["id"]: e["resource"]["comment"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Slot"
    }
    mirrored = Slot.objects.get(external_id="c1")
    unlinked = Slot.objects.get(external_id="c2")
    assert comments[str(mirrored.public_id)] == "https://agenda.example/rdv/c1"
    for ours in (own, unlinked):  # the signed SAS booking link of that very slot
        token_part = comments[str(ours.public_id)].split("/sas/rdv/")[1].strip("/")
        assert _slot_of_link(token_part)[0] == ours
    read = client.get(f"/fhir/Slot/{mirrored.public_id}", **bearer(token)).json()
    assert read["comment"] == "https://agenda.example/rdv/c1"
