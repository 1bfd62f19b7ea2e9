import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import Role
from relais.audit.models import AuditEvent
from relais.notifications.models import Notification
from relais.orientation.services import booking_create
from relais.regulation.models import Patient, RequestStatus
from relais.regulation.retention import patients_anonymise
from tests import factories as f

pytestmark = pytest.mark.django_db


def old_request(months_ago: int, status=RequestStatus.DONE, **patient):
    req = f.RequestFactory(
        patient=f.PatientFactory(birth_date=date(1980, 6, 15), **patient), status=status
    )
    type(req).objects.filter(pk=req.pk).update(
        created_at=timezone.now() - timedelta(days=31 * months_ago)
    )
    return req


def test_it_anonymises_exactly_the_patients_past_the_retention_delay(cpts_a):
    booked = f.RequestFactory(patient=f.PatientFactory(birth_date=date(1980, 6, 15)))
    booking_create(request=booked, slot=f.SlotFactory())
    type(booked).objects.filter(pk=booked.pk).update(
        created_at=timezone.now() - timedelta(days=400), status=RequestStatus.DONE
    )
    old = old_request(13)
    recent = old_request(2)
    still_open = old_request(14, status=RequestStatus.OPEN)
    phone = booked.patient.phone
    assert Notification.objects.filter(recipient=phone).exists()
    assert patients_anonymise() == 2
    for req in (booked, old):
        patient = Patient.objects.get(pk=req.patient_id)
        assert patient.first_name == "" and patient.phone == "" and patient.email == ""
        assert patient.last_name.startswith("ANONYME-")
        assert patient.birth_date == date(1980, 1, 1)  # age kept for statistics
        req.refresh_from_db()
        assert req.motif_text == "" and req.status == RequestStatus.DONE
    assert not Notification.objects.filter(recipient=phone, booking__request=booked).exists()
    assert Notification.objects.filter(booking__request=booked, body="[effacé]").exists()
    for req in (recent, still_open):
        assert Patient.objects.get(pk=req.patient_id).anonymised_at is None
    assert patients_anonymise() == 0  # idempotent
    assert AuditEvent.objects.filter(action="anonymise").count() == 1


def test_it_has_a_command_with_a_dry_run(cpts_a, capsys):
    old_request(13)
    call_command("anonymise_patients", "--dry-run")
    assert "1 patient(s) seraient anonymisés" in capsys.readouterr().out
    call_command("anonymise_patients", "--months", "24")
    assert "0 patient(s) anonymisé(s)" in capsys.readouterr().out


def test_it_exports_everything_on_one_patient_for_an_admin_only(client, olivia, sas91, cpts_a):
    req = f.RequestFactory()
    booking_create(request=req, slot=f.SlotFactory())
    admin = f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)
    url = reverse("regulation:patient_export", args=[req.public_id])
    client.force_login(olivia)
    assert client.get(url).status_code == 403
    client.force_login(admin)
    data = json.loads(client.get(url).content)
    assert data["patient"]["last_name"] == req.patient.last_name
    assert data["requests"][0]["reference"] == req.reference
    assert data["requests"][0]["bookings"][0]["status"] == "booked"
    assert any(m["channel"] == "sms" for m in data["messages"])
    assert AuditEvent.objects.filter(
        user=admin, action="export", object_id=str(req.patient.public_id)
    ).exists()
