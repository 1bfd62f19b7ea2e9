"""Replay of the patient take-over attack of issue 14 (item 1), with counts.

Run from the repository root (any revision, before or after the fix: it only uses what
both have):

    .venv/bin/python -m pytest scripts/identity_attack_replay.py -q -s -p no:cacheprovider

For N Essonne (SAS 91) patients, each with a booked request, a caller of Haute-Loire
(SAS 43) types the patient's names and birth date with their own phone through each
door: the operator intake form, the JSON API (token limited to SAS 43), FHIR (token
limited to SAS 43, contained Patient without birth date), and the anonymous web form of
a CPTS. Counted per door: 91 records whose phone/e-mail/commune changed, reminders of a
91 booking that would go to the attacker's phone, 43 pages/responses showing a 91
reference, and 91 requests in the 43 administrator's per-patient export.
"""

import json
from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import Role
from relais.notifications.models import Notification
from relais.notifications.services import booking_reminder_send
from relais.orientation.services import booking_create
from relais.regulation.models import Request
from relais.regulation.services import motifs_load
from tests import factories as f
from tests.regulation.test_web_channel import HOURS, OPEN_TIME, answers

N = 10
ATTACKER = "0639984343"


def token(name, scopes, sas):
    from relais.accounts.services import api_client_create

    client, value = api_client_create(name=name, scopes=scopes.split(","))
    client.sas_scope.add(sas)
    return value


@pytest.mark.django_db
def test_replay(settings, tmp_path):
    settings.RELAIS_SMS_BACKEND = "file"
    settings.RELAIS_SMS_FILE_PATH = str(tmp_path / "sms")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RELAIS_WEB_FORM_POW = False  # the proof-of-work is tested in test_web_abuse
    for name in ("PER_IP_10MIN", "PER_IP_DAY", "PER_CPTS_10MIN"):
        setattr(settings, f"RELAIS_WEB_FORM_{name}", 100_000)  # limits: test_web_abuse
    motifs_load()
    sas91, sas43 = f.sas("91"), f.sas("43")
    cpts_a = f.CptsFactory(name="CPTS A", sas=sas91, service_hours=HOURS)
    cpts_a.communes.add(f.commune("91228"))
    cpts43 = f.CptsFactory(name="CPTS 43", sas=sas43, finess="430000001", service_hours=HOURS)
    cpts43.communes.add(f.commune("43157"))
    olivia = f.member(f.UserFactory(username="olivia"), Role.OPERATEUR, sas_obj=sas91)
    oscar = f.member(f.UserFactory(username="oscar"), Role.OPERATEUR, sas_obj=sas43)
    admin43 = f.member(f.UserFactory(username="adam43"), Role.ADMIN, sas_obj=sas43)
    api43 = token("api-43", "requests:write,requests:read", sas43)
    fhir43 = token("fhir-43", "appointments:write,appointments:read", sas43)
    auth = {"api": {"HTTP_AUTHORIZATION": f"Bearer {api43}"}}
    auth["fhir"] = {"HTTP_AUTHORIZATION": f"Bearer {fhir43}"}

    counts = {}
    for door in ("ui", "api", "fhir", "web"):
        c = counts[door] = {
            "calls": 0,
            "records_changed": 0,
            "reminders_to_attacker": 0,
            "91_reference_shown_to_43": 0,
            "91_requests_in_43_export": 0,
            "5xx": 0,
        }
        for i in range(N):
            birth = None if door == "fhir" else date(1960 + i, 3, 4)
            victim = f.PatientFactory(
                first_name="Claire",
                last_name=f"Victime{door}{i}",
                birth_date=birth,
                phone=f"06399855{i:02d}",
                email=f"v{i}@example.invalid",
            )
            req91 = f.RequestFactory(patient=victim, reference=f"91-{door.upper()}{i:03d}")
            booking = booking_create(
                request=req91,
                slot=f.SlotFactory(start=timezone.now() + timedelta(days=1)),
                operator=olivia,
            )
            before = (victim.phone, victim.email, victim.commune_id)
            client = Client(raise_request_exception=False)
            texts = []
            if door == "ui":
                client.force_login(oscar)
                r = client.post(
                    reverse("regulation:request_new"),
                    {
                        "last_name": victim.last_name,
                        "first_name": "Claire",
                        "birth_date": birth.isoformat(),
                        "phone": ATTACKER,
                        "commune": "Le Puy-en-Velay — 43157",
                        "channel": "phone",
                        "motif_text": "toux",
                        "urgency": "12-24h",
                        "patient_choice": "",
                    },
                    follow=True,
                )
            elif door == "api":
                body = {
                    "patient": {
                        "first_name": "Claire",
                        "last_name": victim.last_name,
                        "birth_date": birth.isoformat(),
                        "phone": ATTACKER,
                        "commune_insee": "43157",
                    },
                    "motif_text": "toux",
                }
                r = client.post(
                    "/api/v1/requests",
                    json.dumps(body),
                    content_type="application/json",
                    **auth["api"],
                )
            elif door == "fhir":
                slot43 = f.SlotFactory(professional=f.ProfessionalFactory(practice_in="43157"))
                body = {
                    "resourceType": "Appointment",
                    "identifier": [{"system": "urn:replay", "value": f"R{i}"}],
                    "status": "booked",
                    "slot": [{"reference": f"Slot/{slot43.public_id}"}],
                    "contained": [
                        {
                            "resourceType": "Patient",
                            "id": "p1",
                            "name": [{"family": victim.last_name, "given": ["Claire"]}],
                            "telecom": [{"system": "phone", "value": ATTACKER}],
                            "address": [{"postalCode": "43000", "city": "Le Puy-en-Velay"}],
                        }
                    ],
                    "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}],
                    "description": "toux",
                }
                r = client.post(
                    "/fhir/Appointment",
                    json.dumps(body),
                    content_type="application/fhir+json",
                    **auth["fhir"],
                )
            else:
                data = answers(
                    last_name=victim.last_name,
                    first_name="Claire",
                    birth_date=birth.isoformat(),
                    phone=ATTACKER,
                    commune="91228",
                )
                with time_machine.travel(OPEN_TIME):
                    r = client.post(
                        reverse("regulation:web_request", args=[cpts_a.public_id]), data
                    )
            c["calls"] += 1
            c["accepted"] = c.get("accepted", 0) + (r.status_code in (200, 201))
            c["5xx"] += r.status_code >= 500
            texts.append(r.content.decode())
            victim.refresh_from_db()
            c["records_changed"] += (victim.phone, victim.email, victim.commune_id) != before
            booking_reminder_send(booking_id=booking.pk, hours_before=3)
            reminder = Notification.objects.filter(kind="reminder_3h").latest("pk")
            c["reminders_to_attacker"] += reminder.recipient == ATTACKER
            # The 43 side: the new request's page and the 43 admin's export.
            mine = Request.objects.filter(sas=sas43).order_by("-pk").first()
            if mine is not None:
                if door != "web":
                    oscar_client = Client()
                    oscar_client.force_login(oscar)
                    texts.append(
                        oscar_client.get(
                            reverse("regulation:request_detail", args=[mine.public_id])
                        ).content.decode()
                    )
                admin = Client()
                admin.force_login(admin43)
                export = admin.get(reverse("regulation:patient_export", args=[mine.public_id]))
                refs = [x["reference"] for x in json.loads(export.content)["requests"]]
                c["91_requests_in_43_export"] += sum(ref.startswith("91-") for ref in refs)
            if door != "web":  # the web form's own thanks page is for the 91 CPTS
                c["91_reference_shown_to_43"] += any(req91.reference in t for t in texts)
    print()
    print(json.dumps(counts, indent=1))
