"""One eligibility rule (issue 19): the age, motif and decided-modality limits the ranked
search applies are checked again when a slot is taken, on every door, and a refusal says
why (French message, structured reasons)."""

import json
from datetime import date, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from relais.accounts.services import api_client_create
from relais.agenda.models import AvailabilityRule, Modality, Slot, SlotStatus
from relais.interop.models import PartnerSource
from relais.interop.services import partner_slot_book
from relais.orientation.models import Booking
from relais.orientation.selectors import slots_ranked_for
from relais.orientation.services import (
    SlotNotEligible,
    booking_create,
    slot_hold,
    surnumeraire_address,
)
from relais.regulation.models import Decision, Motif, RequestStatus
from tests import factories as f
from tests.interop.conftest import bearer, make_token

pytestmark = pytest.mark.django_db


def _born(years: int) -> date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) - timedelta(days=1)


def paediatric_slot(**extra) -> Slot:
    """A 3-15-year slot of a rule accepting only H71 (otitis) and R74 (URTI)."""
    pro = extra.pop("professional", None) or f.ProfessionalFactory()
    rule = AvailabilityRule.objects.create(
        professional=pro,
        practice=pro.practices.first(),
        weekdays=[0, 1, 2, 3, 4, 5, 6],
        start_time=time(8),
        end_time=time(20),
        age_min=3,
        age_max=15,
    )
    rule.motifs.set(Motif.objects.filter(code__in=["H71", "R74"]))
    return f.SlotFactory(professional=pro, rule=rule, age_min=3, age_max=15, **extra)


def vomiting_request(years: int = 66, **extra):
    patient = f.PatientFactory(birth_date=_born(years))
    return f.RequestFactory(patient=patient, motif=Motif.objects.get(code="D10"), **extra)


def _api_book(client, token, req, slot):
    return client.post(
        "/api/v1/bookings",
        {"request": str(req.public_id), "slot": str(slot.public_id)},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def _untouched(req, slot):
    slot.refresh_from_db()
    req.refresh_from_db()
    assert slot.status == SlotStatus.FREE
    assert req.status == RequestStatus.OPEN
    assert not Booking.objects.filter(slot=slot).exists()


def test_it_refuses_a_66_year_old_with_vomiting_on_a_paediatric_slot_through_the_api(
    client, cpts_a
):
    """The issue's finding: POST /api/v1/bookings answered 201."""
    _, token = api_client_create(name="logiciel-x", scopes=["appointments:write", "requests:read"])
    slot, req = paediatric_slot(), vomiting_request()
    response = _api_book(client, token, req, slot)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "slot_not_eligible"
    assert error["reasons"] == ["age", "motif"]
    assert "de 3 à 15 ans ; le patient a 66 ans" in error["message"]
    assert "H71" in error["message"] and "D10" in error["message"]
    _untouched(req, slot)


def test_it_books_the_same_slot_for_a_child_with_an_otitis(client, cpts_a):
    _, token = api_client_create(name="logiciel-x", scopes=["appointments:write", "requests:read"])
    slot = paediatric_slot()
    req = f.RequestFactory(
        patient=f.PatientFactory(birth_date=_born(7)), motif=Motif.objects.get(code="H71")
    )
    assert _api_book(client, token, req, slot).status_code == 201


def test_it_refuses_it_on_the_operator_page_with_the_reason(client, olivia, cpts_a):
    slot, req = paediatric_slot(), vomiting_request()
    client.force_login(olivia)
    response = client.post(
        reverse("orientation:book", kwargs={"public_id": req.public_id}),
        {"slot": str(slot.public_id)},
    )
    assert response.status_code == 200
    assert "le patient a 66 ans" in response.content.decode()
    _untouched(req, slot)


def test_it_refuses_a_hold_of_a_slot_the_patient_cannot_take(olivia, cpts_a):
    slot, req = paediatric_slot(), vomiting_request()
    with pytest.raises(SlotNotEligible):
        slot_hold(slot=slot, user=olivia, request=req)
    _untouched(req, slot)


def test_it_refuses_it_through_fhir_with_an_operation_outcome(client, cpts_a):
    f.commune("91174")
    token = make_token("slots:read,appointments:read,appointments:write")
    slot = paediatric_slot()
    body = {
        "resourceType": "Appointment",
        "identifier": [{"system": "https://sas.sante.fr/rdv", "value": "RDV-66"}],
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.public_id}"}],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "p1",
                "name": [{"family": "Durand", "given": ["Paul"]}],
                "birthDate": _born(66).isoformat(),
                "telecom": [{"system": "phone", "value": "+33639981234"}],
                "address": [{"postalCode": "91100", "city": "Corbeil-Essonnes"}],
            }
        ],
        "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}],
        "reasonCode": [{"coding": [{"system": "urn:oid:1.2.250.1.213.2.10", "code": "D10"}]}],
    }
    response = client.post(
        "/fhir/Appointment", json.dumps(body), content_type="application/fhir+json", **bearer(token)
    )
    assert response.status_code == 422, response.content
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "66 ans" in json.dumps(outcome, ensure_ascii=False)
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE and not Booking.objects.exists()


def test_it_never_asks_the_partner_for_a_slot_relais_would_refuse(snp_request, cpts_a):
    partner = PartnerSource.objects.create(
        name="agenda-x", base_url="http://127.0.0.1:9/", token="t"
    )
    slot = paediatric_slot(source=partner.name, external_id="ext-1")
    req = vomiting_request()
    # The partner's address answers nothing: a call would fail with SlotUnavailable.
    with pytest.raises(SlotNotEligible):
        partner_slot_book(request=req, slot=slot)
    _untouched(req, slot)


def test_it_keeps_the_regulators_decided_modality(cpts_a, dr_alice):
    req = f.RequestFactory(decision=Decision.VISITE)
    cabinet = f.SlotFactory()
    with pytest.raises(SlotNotEligible) as refused:
        booking_create(request=req, slot=cabinet)
    assert refused.value.extra == {"reasons": ["modality"]}
    assert "visite à domicile" in refused.value.message
    visit = f.SlotFactory(modality=Modality.VISITE)
    assert booking_create(request=req, slot=visit).slot == visit


def test_it_gives_a_surnumeraire_the_decided_modality(cpts_a, dr_alice):
    dr_alice.accepts_surnumeraire = True
    dr_alice.save(update_fields=["accepts_surnumeraire"])
    req = f.RequestFactory(decision=Decision.TELECONSULTATION)
    booking = surnumeraire_address(
        request=req, professional=dr_alice, start=timezone.now() + timedelta(hours=2)
    )
    assert booking.slot.modality == Modality.TELECONSULTATION


def test_it_offers_exactly_the_slots_the_booking_accepts(cpts_a):
    """The search and the booking read one rule: every slot of a mixed set is either
    ranked and bookable, or left out and refused."""
    pro = f.ProfessionalFactory()
    later = timezone.now() + timedelta(hours=2)
    slots = [
        paediatric_slot(professional=pro, start=later),
        f.SlotFactory(professional=pro, start=later + timedelta(hours=1), age_min=60),
        f.SlotFactory(professional=pro, start=later + timedelta(hours=2), age_max=70),
        f.SlotFactory(professional=pro, start=later + timedelta(hours=3), modality=Modality.VISITE),
        f.SlotFactory(professional=pro, start=later + timedelta(hours=4), age_max=18),
    ]
    patient = f.PatientFactory(birth_date=_born(66))
    asked = {"patient": patient, "motif": Motif.objects.get(code="D10"), "decision": "visite"}
    ranked = {
        r.slot.public_id for r in slots_ranked_for(request=f.RequestFactory(**asked), limit=50)
    }
    accepted = set()
    for slot in slots:
        try:
            booking_create(request=f.RequestFactory(**asked), slot=slot)
        except SlotNotEligible:
            continue
        accepted.add(slot.public_id)
    assert accepted == ranked == {slots[3].public_id}
