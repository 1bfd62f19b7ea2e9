"""Issue 18, item 4: every cancellation tells the patient and the professional, through
the outbox. Before, cancelling a booking (operator, API, FHIR, niveau 2) texted no one."""

import pytest
from django.urls import reverse

from relais.agenda.services import slot_cancel_booking
from relais.core.errors import ApplicationError
from relais.notifications.models import Notification
from relais.orientation.services import (
    booking_cancel,
    booking_create,
    level2_accept,
    level2_launch,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def _cancellation_messages(booking):
    return {
        (n.kind, n.channel, n.recipient)
        for n in Notification.objects.filter(booking=booking, kind__startswith="booking_cancel")
    }


@pytest.fixture
def booked(olivia, cpts_a):
    req = f.RequestFactory(callback_phone="0639981111", callback_email="rappel@example.invalid")
    slot = f.SlotFactory(professional=f.ProfessionalFactory(phone="0639982222"))
    return booking_create(request=req, slot=slot, operator=olivia)


def test_an_operators_cancellation_tells_the_patient_and_the_professional(client, olivia, booked):
    client.force_login(olivia)
    response = client.post(
        reverse("orientation:cancel", args=[booked.public_id]), {"reason": "patient guéri"}
    )
    assert response.status_code == 302
    assert _cancellation_messages(booked) == {
        ("booking_cancelled_patient", "sms", "0639981111"),
        ("booking_cancelled_patient", "email", "rappel@example.invalid"),
        ("booking_cancelled_professional", "sms", "0639982222"),
    }
    patient_sms = Notification.objects.get(kind="booking_cancelled_patient", channel="sms")
    assert (
        "annulé" in patient_sms.body and booked.slot.professional.display_name in patient_sms.body
    )
    pro_sms = Notification.objects.get(kind="booking_cancelled_professional")
    # No patient identity in an SMS to the professional.
    assert booked.request.patient.last_name not in pro_sms.body
    # Through the outbox: a delivery task is queued with the messages.
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.filter(task_path__endswith="deliver_notifications").exists()


def test_a_professionals_cancellation_tells_the_patient_once(dr_alice, olivia, cpts_a):
    req = f.RequestFactory(callback_phone="0639981111", callback_email="")
    slot = f.SlotFactory(professional=dr_alice)
    booking = booking_create(request=req, slot=slot, operator=olivia)
    slot_cancel_booking(slot=slot, actor=dr_alice.user)
    assert _cancellation_messages(booking) == {
        ("booking_cancelled_patient", "sms", "0639981111"),
    }
    assert "par le cabinet" in Notification.objects.get(kind="booking_cancelled_patient").body


def test_an_api_cancellation_tells_them_too(client, booked):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_client", name="lrm", scopes="appointments:write", sas="91", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    response = client.post(
        f"/api/v1/bookings/{booked.public_id}/cancel",
        {"reason": "doublon"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    kinds = {k for k, _, _ in _cancellation_messages(booked)}
    assert kinds == {"booking_cancelled_patient", "booking_cancelled_professional"}


def test_a_cancelled_niveau2_acceptance_tells_the_patient_and_the_volunteer(olivia, cpts_a):
    volunteer = f.ProfessionalFactory(cpts_level2=True, practice_in="91228", phone="0639983333")
    req = f.RequestFactory(callback_phone="0639981111", callback_email="")
    call = level2_launch(request=req, user=olivia)
    from datetime import timedelta

    from django.utils import timezone

    booking = level2_accept(offer=call.offers.get(), start=timezone.now() + timedelta(hours=2))
    booking_cancel(booking=booking, actor=olivia, reason="patient parti aux urgences")
    assert _cancellation_messages(booking) == {
        ("booking_cancelled_patient", "sms", "0639981111"),
        ("booking_cancelled_professional", "sms", volunteer.phone),
    }


def test_a_refused_cancellation_writes_no_message(olivia, booked):
    booking_cancel(booking=booked, actor=olivia)
    before = Notification.objects.count()
    with pytest.raises(ApplicationError, match="plus annulable"):
        booking_cancel(booking=booked, actor=olivia)
    assert Notification.objects.count() == before
