"""Patient identity that cannot be hijacked (issue 14, item 1).

The attack: an operator (or a token, or anyone through a CPTS web form) of SAS 43 types
an Essonne (SAS 91) patient's names and birth date with their own phone. Before the fix
the 91 record was matched and overwritten (phone, e-mail, commune): the 91 reminders went
to the attacker, the 43 request page said "Doublon possible : 91-…", and the 43 admin's
export returned the whole Essonne history. Every door is replayed here.
"""

import json
from datetime import date, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import Role
from relais.accounts.permissions import scope_for
from relais.audit.models import AuditEvent
from relais.core.errors import ApplicationError, PermissionDenied
from relais.notifications.models import Notification
from relais.notifications.services import booking_reminder_send
from relais.orientation.services import booking_create
from relais.regulation.models import IdentityStatus, Patient, Request
from relais.regulation.retention import patient_export
from relais.regulation.selectors import patient_candidates
from relais.regulation.services import patient_set_identity_status, patient_update_contact
from tests import factories as f
from tests.interop.conftest import bearer, make_token
from tests.regulation.test_web_channel import HOURS, OPEN_TIME, answers

pytestmark = pytest.mark.django_db

VICTIM_PHONE = "0639985555"
VICTIM_EMAIL = "claire.martin@example.invalid"
ATTACKER_PHONE = "0639984343"
ATTACKER_EMAIL = "pirate@example.invalid"
BIRTH = date(1970, 5, 6)


@pytest.fixture
def cpts43(sas43):
    cpts = f.CptsFactory(name="CPTS Nord Velay", sas=sas43, finess="430000001")
    cpts.communes.add(f.commune("43157"), f.commune("43137"))
    cpts.service_hours = HOURS
    cpts.save(update_fields=["service_hours"])
    return cpts


@pytest.fixture
def victim(cpts_a, olivia):
    """An Essonne patient with a booked request (confirmation sent, reminders due)."""
    patient = f.PatientFactory(
        first_name="Claire",
        last_name="Martin",
        birth_date=BIRTH,
        phone=VICTIM_PHONE,
        email=VICTIM_EMAIL,
    )
    req = f.RequestFactory(patient=patient, reference="91-VICTIM")
    slot = f.SlotFactory(start=timezone.now() + timedelta(days=1))
    booking_create(request=req, slot=slot, operator=olivia)
    return patient


@pytest.fixture
def admin43(sas43):
    return f.member(f.UserFactory(username="adam43"), Role.ADMIN, sas_obj=sas43)


def victim_state(patient):
    """What must not change: the 91 record and the messages about 91 requests."""
    patient.refresh_from_db()
    return (
        (patient.phone, patient.email, patient.commune_id, patient.sas_id, patient.updated_at),
        sorted(
            Notification.objects.filter(booking__request__sas=patient.sas).values_list(
                "pk", "recipient", "body"
            )
        ),
        sorted(Request.objects.filter(patient=patient).values_list("pk", "status")),
    )


def assert_no_leak(text: str):
    assert "91-VICTIM" not in text and VICTIM_PHONE not in text and VICTIM_EMAIL not in text


def intake_data(**kw):
    data = {
        "last_name": "Martin",
        "first_name": "Claire",
        "birth_date": BIRTH.isoformat(),
        "phone": ATTACKER_PHONE,
        "email": ATTACKER_EMAIL,
        "commune": "Le Puy-en-Velay — 43157",
        "channel": "phone",
        "motif_text": "toux",
        "urgency": "12-24h",
    }
    return data | kw


def assert_reminder_goes_to_the_victim(patient):
    booking = patient.requests.get().bookings.get()
    assert booking_reminder_send(booking_id=booking.pk, hours_before=3) == "queued"
    reminder = Notification.objects.filter(kind="reminder_3h").latest("pk")
    assert reminder.recipient == VICTIM_PHONE


# --- the attack, door by door -------------------------------------------------------


def test_it_keeps_the_91_patient_when_an_operator_of_43_types_their_identity(
    client, victim, oscar, cpts43, admin43
):
    before = victim_state(victim)
    client.force_login(oscar)
    response = client.post(reverse("regulation:request_new"), intake_data())
    assert response.status_code == 302  # created at once: nothing of 91 to propose
    req = Request.objects.exclude(patient=victim).get()
    assert req.patient != victim and req.patient.sas.departement.code == "43"
    assert req.callback_phone == ATTACKER_PHONE and req.duplicate_of is None
    assert victim_state(victim) == before
    page = client.get(reverse("regulation:request_detail", args=[req.public_id]))
    assert "Doublon possible" not in page.content.decode()
    assert_no_leak(page.content.decode())
    lookup = client.post(reverse("regulation:patient_lookup"), {"last_name": "Mart"})
    assert str(victim.public_id) not in lookup.content.decode()
    client.force_login(admin43)
    export = client.get(reverse("regulation:patient_export", args=[req.public_id]))
    assert export.status_code == 200
    assert_no_leak(export.content.decode())
    assert [r["reference"] for r in json.loads(export.content)["requests"]] == [req.reference]
    assert_reminder_goes_to_the_victim(victim)


def test_it_refuses_a_crafted_choice_of_a_patient_of_another_territory(
    client, victim, oscar, cpts43
):
    before = victim_state(victim)
    client.force_login(oscar)
    page = client.post(
        reverse("regulation:request_new"), intake_data(patient_choice=str(victim.public_id))
    )
    assert page.status_code == 200
    assert "Patient introuvable dans votre territoire" in page.content.decode()
    assert_no_leak(page.content.decode())
    assert Request.objects.count() == 1 and victim_state(victim) == before


def test_it_keeps_the_91_patient_through_the_json_api(client, victim, cpts43, sas43):
    before = victim_state(victim)
    token = make_token("requests:write,requests:read", name="editeur-43", sas_scope=[sas43])
    body = {
        "patient": {
            "first_name": "Claire",
            "last_name": "Martin",
            "birth_date": BIRTH.isoformat(),
            "phone": ATTACKER_PHONE,
            "email": ATTACKER_EMAIL,
            "commune_insee": "43157",
        },
        "motif_text": "toux",
    }
    response = client.post(
        "/api/v1/requests", json.dumps(body), content_type="application/json", **bearer(token)
    )
    assert response.status_code == 201, response.content
    assert response.json()["patient_id"] != str(victim.public_id)
    assert_no_leak(response.content.decode())
    # Pointing at the 91 record explicitly: as unknown as a record that does not exist.
    response = client.post(
        "/api/v1/requests",
        json.dumps(body | {"patient_id": str(victim.public_id)}),
        content_type="application/json",
        **bearer(token),
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "patient_not_found"
    assert victim_state(victim) == before
    assert_reminder_goes_to_the_victim(victim)


def test_it_attaches_through_the_api_inside_the_territory_without_changing_the_record(
    client, victim, sas91
):
    token = make_token("requests:write,requests:read", name="editeur-91", sas_scope=[sas91])
    body = {"patient_id": str(victim.public_id), "patient": None, "motif_text": "toux"}
    body["patient"] = {
        "first_name": "x",
        "last_name": "x",
        "phone": "0639987777",
        "commune_insee": "91228",
    }
    response = client.post(
        "/api/v1/requests", json.dumps(body), content_type="application/json", **bearer(token)
    )
    assert response.status_code == 201, response.content
    req = Request.objects.get(public_id=response.json()["id"])
    assert req.patient == victim and req.callback_phone == "0639987777"
    victim.refresh_from_db()
    assert (victim.phone, victim.first_name) == (VICTIM_PHONE, "Claire")


def fhir_appointment(slot, patient_ref=None, birth=True):
    contained = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Martin", "given": ["Claire"]}],
        "telecom": [
            {"system": "phone", "value": ATTACKER_PHONE},
            {"system": "email", "value": ATTACKER_EMAIL},
        ],
        "address": [{"postalCode": "43000", "city": "Le Puy-en-Velay"}],
    }
    if birth:
        contained["birthDate"] = BIRTH.isoformat()
    return {
        "resourceType": "Appointment",
        "identifier": [{"system": "https://editeur-43.example/rdv", "value": "RDV-43"}],
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.public_id}"}],
        "contained": [contained],
        "participant": [
            {"actor": {"reference": patient_ref or "#p1"}, "status": "accepted"},
        ],
        "description": "toux",
    }


@pytest.mark.parametrize("birth", [True, False])
def test_it_keeps_the_91_patient_through_fhir(client, victim, cpts43, sas43, birth):
    if not birth:  # FHIR without a birth date matched any patient without one
        Patient.objects.filter(pk=victim.pk).update(birth_date=None)
    before = victim_state(victim)
    token = make_token("appointments:write,appointments:read", name="sas-43", sas_scope=[sas43])
    slot = f.SlotFactory(professional=f.ProfessionalFactory(practice_in="43157"))
    response = client.post(
        "/fhir/Appointment",
        json.dumps(fhir_appointment(slot, birth=birth)),
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert response.status_code == 201, response.content
    assert_no_leak(response.content.decode())
    req = Request.objects.exclude(patient=victim).get()
    assert req.patient.sas == sas43 and req.callback_phone == ATTACKER_PHONE
    assert victim_state(victim) == before
    other = f.SlotFactory(professional=f.ProfessionalFactory(practice_in="43157"))
    body = fhir_appointment(other, patient_ref=f"Patient/{victim.public_id}")
    body["identifier"][0]["value"] = "RDV-43-bis"
    response = client.post(
        "/fhir/Appointment", json.dumps(body), content_type="application/fhir+json", **bearer(token)
    )
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert victim_state(victim) == before


def test_it_keeps_the_91_patient_through_the_anonymous_web_form(client, victim, cpts_a, settings):
    settings.RELAIS_WEB_FORM_POW = False  # the proof-of-work is tested in test_web_abuse
    for name in ("PER_IP_10MIN", "PER_IP_DAY", "PER_CPTS_10MIN"):
        setattr(settings, f"RELAIS_WEB_FORM_{name}", 100_000)  # limits: test_web_abuse
    cpts_a.service_hours = HOURS
    cpts_a.save(update_fields=["service_hours"])
    before = victim_state(victim)
    url = reverse("regulation:web_request", args=[cpts_a.public_id])
    data = answers(
        last_name="Martin",
        first_name="Claire",
        birth_date=BIRTH.isoformat(),
        phone=ATTACKER_PHONE,
        email=ATTACKER_EMAIL,
    )
    with time_machine.travel(OPEN_TIME):
        page = client.post(url, data).content.decode()
    assert "Demande enregistrée" in page, page
    assert_no_leak(page)
    req = Request.objects.get(channel="web")
    assert req.patient != victim and req.callback_phone == ATTACKER_PHONE
    sms = Notification.objects.get(kind="web_request", channel="sms")
    assert sms.recipient == ATTACKER_PHONE  # the confirmation goes to who asked
    assert victim_state(victim) == before
    assert_reminder_goes_to_the_victim(victim)


# --- matching proposes, the operator confirms -------------------------------------------


def test_it_asks_the_operator_of_the_territory_to_confirm_a_known_patient(client, victim, olivia):
    client.force_login(olivia)
    data = intake_data(commune="Évry-Courcouronnes — 91228")
    page = client.post(reverse("regulation:request_new"), data)
    assert page.status_code == 200 and Request.objects.count() == 1
    text = page.content.decode()
    assert "Même patient : MARTIN Claire" in text and 'value="new"' in text
    assert f'value="{victim.public_id}"' in text
    response = client.post(
        reverse("regulation:request_new"), data | {"patient_choice": str(victim.public_id)}
    )
    assert response.status_code == 302
    req = Request.objects.exclude(reference="91-VICTIM").get()
    assert req.patient == victim and req.callback_phone == ATTACKER_PHONE
    assert req.callback_email == ATTACKER_EMAIL
    victim.refresh_from_db()
    assert (victim.phone, victim.email) == (VICTIM_PHONE, VICTIM_EMAIL)
    client.post(reverse("regulation:request_new"), data | {"patient_choice": "new"})
    assert Patient.objects.filter(last_name="Martin").count() == 2


def test_it_proposes_only_the_callers_territory(victim, olivia, oscar):
    def names(user):
        return patient_candidates(
            scope=scope_for(user), last_name="martin", first_name="CLAIRE", birth_date=BIRTH
        )

    assert names(olivia) == [victim]
    assert names(oscar) == []


def test_it_flags_duplicates_only_within_the_territory(victim, cpts43, sas43):
    from relais.regulation.services import _recent_request_of

    def twin(insee):
        return f.PatientFactory(
            first_name="claire", last_name="MARTIN", birth_date=BIRTH, commune=f.commune(insee)
        )

    in_43 = twin("43157")
    assert _recent_request_of(in_43, sas=sas43, now=timezone.now()) is None  # 91 unseen
    mine = f.RequestFactory(patient=in_43)
    assert _recent_request_of(twin("43137"), sas=sas43, now=timezone.now()) == mine
    found = _recent_request_of(twin("91228"), sas=victim.sas, now=timezone.now())
    assert found is not None and found.reference == "91-VICTIM"


# --- the patient's own details: explicit, audited, territory only -----------------------


def test_it_changes_the_patients_details_only_explicitly_and_audited(client, victim, olivia):
    first = victim.requests.get()
    changed = patient_update_contact(
        patient=victim, scope=scope_for(olivia), user=olivia, phone="06 39 98 11 11"
    )
    assert changed == ["phone"]
    victim.refresh_from_db()
    assert victim.phone == "0639981111"
    first.refresh_from_db()
    assert first.callback_phone == VICTIM_PHONE  # a request keeps its call's number
    audit = AuditEvent.objects.get(action="update", object_id=str(victim.public_id))
    assert audit.user == olivia and "phone" in audit.reason and "1111" not in audit.reason
    client.force_login(olivia)
    client.post(
        reverse("regulation:patient_contact", args=[first.public_id]),
        {"phone": "", "email": "", "commune": "Évry-Courcouronnes — 91228"},
    )
    victim.refresh_from_db()
    assert victim.email == "" and victim.phone == ""


def test_it_refuses_a_change_of_details_from_another_territory(client, victim, oscar, cpts43):
    with pytest.raises(PermissionDenied):
        patient_update_contact(
            patient=victim, scope=scope_for(oscar), user=oscar, phone=ATTACKER_PHONE
        )
    client.force_login(oscar)
    response = client.post(
        reverse("regulation:patient_contact", args=[victim.requests.get().public_id]),
        {"phone": ATTACKER_PHONE, "commune": "Le Puy-en-Velay — 43157"},
    )
    assert response.status_code == 404
    victim.refresh_from_db()
    assert victim.phone == VICTIM_PHONE


def test_it_keeps_a_record_in_its_territory_when_the_commune_changes(victim, olivia, cpts43):
    with pytest.raises(ApplicationError, match="autre SAS"):
        patient_update_contact(
            patient=victim, scope=scope_for(olivia), user=olivia, commune=f.commune("43157")
        )


# --- the per-patient export: the admin's territory only ---------------------------------


def test_it_exports_only_the_requests_of_the_admins_territory(victim, cpts43, admin43):
    # A record from before the fix, with requests in both territories.
    old = f.RequestFactory(
        patient=victim, reference="43-OLD", sas=f.sas("43"), cpts=cpts43, motif_text="entorse"
    )
    data = patient_export(patient=victim, scope=scope_for(admin43), user=admin43)
    assert [r["reference"] for r in data["requests"]] == [old.reference]
    assert "91-VICTIM" not in json.dumps(data) and not data["messages"]


# --- INS: never "qualifiée" without the INSi procedure ----------------------------------


def test_it_never_qualifies_an_identity_without_insi(victim):
    with pytest.raises(ApplicationError, match="INSi"):
        patient_set_identity_status(patient=victim, status=IdentityStatus.QUALIFIEE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=victim.pk).update(identity_status=IdentityStatus.QUALIFIEE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=victim.pk).update(
            identity_status=IdentityStatus.QUALIFIEE, ins_nir="270059112345678"
        )
    patient_set_identity_status(patient=victim, status=IdentityStatus.VALIDEE)
    Patient.objects.filter(pk=victim.pk).update(
        ins_nir="270059112345678", ins_oid="1.2.250.1.213.1.4.8", insi_checked_at=timezone.now()
    )
    victim.refresh_from_db()
    patient_set_identity_status(patient=victim, status=IdentityStatus.QUALIFIEE)
    victim.refresh_from_db()
    assert victim.identity_status == IdentityStatus.QUALIFIEE


def test_it_erases_the_callback_contact_and_the_ins_traits_with_the_identity(victim):
    from relais.regulation.retention import patients_anonymise

    req = victim.requests.get()
    req.bookings.update(status="fulfilled")
    Request.objects.filter(pk=req.pk).update(status="done")
    Patient.objects.filter(pk=victim.pk).update(birth_name="MARTIN", ins_nir="270059112345678")
    later = timezone.now() + timedelta(days=800)
    assert patients_anonymise(now=later) == 1
    req.refresh_from_db()
    victim.refresh_from_db()
    assert (req.callback_phone, req.callback_email) == ("", "")
    assert (victim.birth_name, victim.ins_nir, victim.phone) == ("", "", "")


def test_it_backfills_the_territory_and_the_callback_contact(sas91, cpts_a, sas43, cpts43):
    """Migration regulation/0006 on rows written before it."""
    import importlib

    from django.apps import apps

    backfill = importlib.import_module(
        "relais.regulation.migrations.0006_patient_territory_ins_request_contact"
    ).backfill
    moved = f.PatientFactory(phone="0639981212", email="a@example.invalid", sas=None)
    f.RequestFactory(patient=moved, sas=sas43, callback_phone="", callback_email="")
    f.RequestFactory(patient=moved, callback_phone="", callback_email="")  # later, in 91
    lone = f.PatientFactory(sas=None, commune=f.commune("43157"))
    backfill(apps, None)
    moved.refresh_from_db()
    lone.refresh_from_db()
    assert moved.sas == sas43 and lone.sas == sas43  # first request's SAS, else commune's
    assert set(moved.requests.values_list("callback_phone", "callback_email")) == {
        ("0639981212", "a@example.invalid")
    }


def test_it_merges_a_web_request_into_the_call_of_the_same_person(
    client, victim, olivia, cpts_a, settings
):
    from relais.regulation.services import PatientInput, request_merge, web_request_submit

    web = web_request_submit(
        cpts=cpts_a,
        data=PatientInput(
            first_name="Claire",
            last_name="MARTIN",
            birth_date=BIRTH,
            phone=ATTACKER_PHONE,
            commune=f.commune("91228"),
        ),
        motif_text="mal à la gorge",
    )
    call = victim.requests.get()
    assert web.patient != victim and web.duplicate_of == call  # same SAS, same identity
    request_merge(duplicate=web, into=call, user=olivia)
    web.refresh_from_db()
    assert web.status == "cancelled"
    victim.refresh_from_db()
    assert victim.phone == VICTIM_PHONE


def test_it_asks_a_referring_professional_to_confirm_too(client, victim, dr_alice):
    client.force_login(dr_alice.user)
    data = intake_data(commune="Évry-Courcouronnes — 91228", channel="professional")
    page = client.post(reverse("regulation:referral_new"), data)
    assert "Même patient : MARTIN Claire" in page.content.decode()
    page = client.post(reverse("regulation:referral_new"), data | {"patient_choice": "new"})
    assert page.status_code == 200 and "Martin" in Patient.objects.latest("pk").last_name
    assert Patient.objects.filter(last_name="Martin").count() == 2
