"""Property: users and tokens of one territory never read nor change a patient of another.

For random people of SAS 43 (operator, admin, API token, FHIR token, anonymous through
a CPTS web form) and random patients of SAS 91 (names, birth date or none, phone,
e-mail; a booked request with its messages), any call of any door — UI intake (with or
without a crafted "same patient" choice), JSON API (with or without `patient_id`), FHIR
(contained Patient or `Patient/<id>`), web form, per-patient export, patient search,
patient-record form — leaves the 91 Patient rows and the messages about 91 requests
exactly as they were, and no response carries the 91 patient's phone, e-mail, record
id or request reference (nor, where the caller did not type them, the names).
"""

import itertools
import json
import string
from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relais.accounts.models import Role
from relais.notifications.models import Notification
from relais.orientation.services import booking_create
from relais.regulation.models import Patient, Request
from tests import factories as f
from tests.interop.conftest import bearer, make_token
from tests.regulation.test_web_channel import HOURS, OPEN_TIME, answers

pytestmark = pytest.mark.django_db

DOORS = [
    "ui_intake",
    "ui_intake_crafted_choice",
    "api",
    "api_patient_id",
    "fhir",
    "fhir_patient_ref",
    "web_form_43",
    "web_form_91",
    "export",
    "search",
    "contact_form",
]
COUNTER = itertools.count()
LETTERS = string.ascii_letters + "éèàçÉ"
names = st.text(alphabet=LETTERS, min_size=2, max_size=12)
phones = st.from_regex(r"06399[0-9]{5}", fullmatch=True)


@pytest.fixture
def world(sas91, sas43, cpts_a, olivia, settings):
    settings.RELAIS_WEB_FORM_POW = False  # the proof-of-work is tested in test_web_abuse
    for name in ("PER_IP_10MIN", "PER_IP_DAY", "PER_CPTS_10MIN"):
        setattr(settings, f"RELAIS_WEB_FORM_{name}", 100_000)  # limits: test_web_abuse
    cpts43 = f.CptsFactory(name="CPTS Nord Velay", sas=sas43, finess="430000001")
    cpts43.communes.add(f.commune("43157"))
    for cpts in (cpts_a, cpts43):
        cpts.service_hours = HOURS
        cpts.save(update_fields=["service_hours"])
    return {
        "cpts_a": cpts_a,
        "cpts43": cpts43,
        "olivia": olivia,
        "oscar": f.member(f.UserFactory(username="oscar"), Role.OPERATEUR, sas_obj=sas43),
        "admin43": f.member(f.UserFactory(username="adam43"), Role.ADMIN, sas_obj=sas43),
        "api43": make_token("requests:write,requests:read", name="api-43", sas_scope=[sas43]),
        "fhir43": make_token(
            "appointments:write,appointments:read", name="fhir-43", sas_scope=[sas43]
        ),
        "slot43": lambda: f.SlotFactory(professional=f.ProfessionalFactory(practice_in="43157")),
        # A 43 request of the operator's own, for the pages that need one.
        "req43": f.RequestFactory(
            patient=f.PatientFactory(last_name="Velay", commune=f.commune("43157"))
        ),
    }


def snapshot_91(sas91, pks=None):
    """The 91 rows (those that existed before the call, when `pks` is given) and the
    messages about 91 requests."""
    pks = pks or {
        "patients": set(Patient.objects.filter(sas=sas91).values_list("pk", flat=True)),
        "requests": set(Request.objects.filter(sas=sas91).values_list("pk", flat=True)),
    }
    patients = sorted(
        Patient.objects.filter(pk__in=pks["patients"]).values_list(
            "pk",
            "first_name",
            "last_name",
            "birth_date",
            "phone",
            "email",
            "commune_id",
            "sas_id",
            "updated_at",
            "anonymised_at",
        )
    )
    requests = sorted(
        Request.objects.filter(pk__in=pks["requests"]).values_list(
            "pk", "patient_id", "sas_id", "status", "callback_phone", "callback_email"
        )
    )
    messages = sorted(
        Notification.objects.filter(booking__request__sas=sas91).values_list(
            "pk", "recipient", "body", "status"
        )
    )
    return pks, (patients, requests, messages)


def call(door, world, victim, typed) -> tuple[str, bool]:
    """One call of a door by a 43 caller; returns the response text and whether the
    caller typed the victim's names in it."""
    client = Client()
    last, first, birth, phone = typed
    identity = {"last_name": last, "first_name": first, "birth_date": birth or ""}
    if door in ("ui_intake", "ui_intake_crafted_choice"):
        client.force_login(world["oscar"])
        data = identity | {
            "phone": phone,
            "commune": "Le Puy-en-Velay — 43157",
            "channel": "phone",
            "motif_text": "toux",
            "urgency": "12-24h",
        }
        if door == "ui_intake_crafted_choice":
            data["patient_choice"] = str(victim.public_id)
        response = client.post(reverse("regulation:request_new"), data, follow=True)
        return response.content.decode(), True
    if door in ("api", "api_patient_id"):
        body = {
            "patient": {
                "first_name": first,
                "last_name": last,
                "birth_date": birth,
                "phone": phone,
                "email": "pirate@example.invalid",
                "commune_insee": "43157",
            },
            "motif_text": "toux",
        }
        if door == "api_patient_id":
            body["patient_id"] = str(victim.public_id)
        response = client.post(
            "/api/v1/requests",
            json.dumps(body),
            content_type="application/json",
            **bearer(world["api43"]),
        )
        return response.content.decode(), True
    if door in ("fhir", "fhir_patient_ref"):
        contained = {
            "resourceType": "Patient",
            "id": "p1",
            "name": [{"family": last, "given": [first]}],
            "telecom": [{"system": "phone", "value": phone}],
            "address": [{"postalCode": "43000", "city": "Le Puy-en-Velay"}],
        }
        if birth:
            contained["birthDate"] = birth
        ref = f"Patient/{victim.public_id}" if door == "fhir_patient_ref" else "#p1"
        body = {
            "resourceType": "Appointment",
            "identifier": [{"system": "urn:test", "value": f"RDV-{next(COUNTER)}"}],
            "status": "booked",
            "slot": [{"reference": f"Slot/{world['slot43']().public_id}"}],
            "contained": [contained],
            "participant": [{"actor": {"reference": ref}, "status": "accepted"}],
            "description": "toux",
        }
        response = client.post(
            "/fhir/Appointment",
            json.dumps(body),
            content_type="application/fhir+json",
            **bearer(world["fhir43"]),
        )
        return response.content.decode(), True
    if door in ("web_form_43", "web_form_91"):
        cpts, insee = (
            (world["cpts43"], "43157") if door == "web_form_43" else (world["cpts_a"], "91228")
        )
        data = answers(
            last_name=last,
            first_name=first,
            birth_date=birth or "1980-01-01",
            phone=phone,
            email="pirate@example.invalid",
            commune=insee,
        )
        with time_machine.travel(OPEN_TIME):
            response = client.post(reverse("regulation:web_request", args=[cpts.public_id]), data)
        return response.content.decode(), True
    if door == "export":
        client.force_login(world["admin43"])
        texts = [
            client.get(reverse("regulation:patient_export", args=[req.public_id])).content
            for req in (world["req43"], victim.requests.get())
        ]
        return b"".join(texts).decode(), False
    if door == "search":
        client.force_login(world["oscar"])
        texts = [
            client.post(reverse("regulation:patient_lookup"), {"last_name": q}).content
            for q in (victim.last_name[:2], victim.last_name, victim.phone)
        ]
        return b"".join(texts).decode(), False
    if door == "contact_form":
        client.force_login(world["oscar"])
        texts = [
            client.post(
                reverse("regulation:patient_contact", args=[req.public_id]),
                {"phone": phone, "commune": "Le Puy-en-Velay — 43157"},
                follow=True,
            ).content
            for req in (victim.requests.get(), world["req43"])
        ]
        return b"".join(texts).decode(), False
    raise AssertionError(door)


@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    door=st.sampled_from(DOORS),
    last=names,
    first=names,
    birth=st.one_of(st.none(), st.dates(date(1920, 1, 1), date(2025, 12, 31))),
    victim_phone=phones,
    attacker_phone=phones,
    case=st.sampled_from([str, str.upper, str.lower]),
)
def test_it_never_lets_one_territory_read_or_change_anothers_patient(
    world, sas91, door, last, first, birth, victim_phone, attacker_phone, case
):
    suffix = "".join(string.ascii_lowercase[int(d)] for d in str(next(COUNTER)))
    last = f"{last}{suffix}"
    victim = f.PatientFactory(
        first_name=first,
        last_name=last,
        birth_date=birth,
        phone=victim_phone,
        email=f"{suffix}@victime.invalid",
    )
    req = f.RequestFactory(patient=victim, reference=f"91-V{suffix.upper()}")
    booking_create(
        request=req,
        slot=f.SlotFactory(start=timezone.now() + timedelta(days=1)),
        operator=world["olivia"],
    )
    pks, before = snapshot_91(sas91)
    typed = (case(last), case(first), birth.isoformat() if birth else None, attacker_phone)
    text, typed_names = call(door, world, victim, typed)
    assert snapshot_91(sas91, pks)[1] == before, door
    leaks = [str(victim.public_id), req.reference, victim.email]
    if victim_phone != attacker_phone:
        leaks.append(victim_phone)
    if not typed_names:
        leaks.append(last)
    assert not [leak for leak in leaks if leak in text], door
