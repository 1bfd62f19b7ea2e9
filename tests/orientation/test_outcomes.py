"""Outcomes that cannot be lost (issue 19, item 3): every past appointment without an
outcome is listed (not only today's), the professional is reminded the next morning, a
recorded outcome is corrected within 7 days (audited; the request and the statement
follow), then locked."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from relais.agenda.statement import participation_statement
from relais.audit.models import AuditEvent
from relais.core.errors import ApplicationError
from relais.notifications.models import Notification
from relais.orientation.models import BookingStatus
from relais.orientation.services import (
    booking_create,
    booking_record_outcome,
    outcome_reminder_send,
)
from relais.regulation.models import RequestStatus
from tests import factories as f
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _past_booking(pro, days_ago: float, hour: int = 10):
    """Booked while it was in the future, then the clock moves on."""
    start = timezone.localtime(timezone.now() - timedelta(days=days_ago)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    slot = f.SlotFactory(professional=pro, start=start)
    with time_machine.travel(start - timedelta(hours=2), tick=False):
        return booking_create(request=f.RequestFactory(), slot=slot)


def test_it_lists_an_appointment_of_two_days_ago_to_record(client, dr_alice):
    """Before: "Mes patients" listed bookings from today 00:00 only."""
    old = _past_booking(dr_alice, days_ago=2)
    login(client, dr_alice.user)
    page = client.get(reverse("orientation:my_patients"))
    assert "À renseigner (1)" in page.text
    assert [b.pk for b in page.context["to_record"]] == [old.pk]
    response = client.post(
        reverse("orientation:record_outcome", kwargs={"public_id": old.public_id}),
        {"outcome": "fulfilled"},
        follow=True,
    )
    assert "Issue enregistrée : patient vu. Vous pouvez la corriger jusqu" in response.text
    old.refresh_from_db()
    assert old.status == BookingStatus.FULFILLED and old.outcome_recorded_at is not None
    assert "À renseigner" not in response.text
    assert "Corriger : non venu" in response.text


def test_it_corrects_a_mis_tap_within_seven_days_and_the_statement_follows(dr_alice):
    """Before: "L'issue de ce rendez-vous est déjà enregistrée"."""
    booking = _past_booking(dr_alice, days_ago=1)
    booking_record_outcome(booking=booking, outcome="noshow", actor=dr_alice.user)
    month = timezone.localdate(booking.slot.start).replace(day=1)
    assert participation_statement(professional=dr_alice, month=month).consultations == 0
    with time_machine.travel(timezone.now() + timedelta(days=6), tick=False):
        booking_record_outcome(booking=booking, outcome="fulfilled", actor=dr_alice.user)
    booking.refresh_from_db()
    booking.request.refresh_from_db()
    assert booking.status == BookingStatus.FULFILLED
    assert booking.request.status == RequestStatus.DONE
    assert participation_statement(professional=dr_alice, month=month).consultations == 1
    audit = AuditEvent.objects.filter(object_id=str(booking.public_id), action="update")
    assert list(audit.order_by("pk").values_list("reason", flat=True)) == [
        "noshow",
        "issue corrigée : noshow -> fulfilled",
    ]


def test_it_locks_an_outcome_after_seven_days(dr_alice):
    booking = _past_booking(dr_alice, days_ago=1)
    booking_record_outcome(booking=booking, outcome="fulfilled", actor=dr_alice.user)
    later = timezone.now() + timedelta(days=7, minutes=1)
    with (
        time_machine.travel(later, tick=False),
        pytest.raises(ApplicationError, match="verrouillée") as refused,
    ):
        booking_record_outcome(booking=booking, outcome="noshow", actor=dr_alice.user)
    assert refused.value.code == "outcome_locked"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.FULFILLED


def test_it_refuses_a_correction_once_the_request_was_placed_again(dr_alice):
    booking = _past_booking(dr_alice, days_ago=1)
    booking_record_outcome(booking=booking, outcome="noshow", actor=dr_alice.user)
    # The patient called back: the request is open again and booked elsewhere.
    from relais.regulation.services import request_transition

    request_transition(request=booking.request, to_status=RequestStatus.OPEN)
    with pytest.raises(ApplicationError, match="reprise depuis"):
        booking_record_outcome(booking=booking, outcome="fulfilled", actor=dr_alice.user)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.NOSHOW


def test_it_keeps_the_same_outcome_twice_without_an_error(dr_alice):
    booking = _past_booking(dr_alice, days_ago=1)
    booking_record_outcome(booking=booking, outcome="fulfilled", actor=dr_alice.user)
    booking_record_outcome(booking=booking, outcome="fulfilled", actor=dr_alice.user)
    assert AuditEvent.objects.filter(object_id=str(booking.public_id), action="update").count() == 1


def test_it_queues_a_next_morning_reminder_in_the_booking_transaction(dr_alice):
    booking = _past_booking(dr_alice, days_ago=1)
    task = DBTaskResult.objects.get(task_path__endswith="outcome_reminder")
    assert task.args_kwargs["args"] == [booking.pk]
    local = timezone.localtime(task.run_after)
    assert (local.date(), local.hour) == (
        timezone.localtime(booking.slot.end).date() + timedelta(days=1),
        8,
    )


def test_it_reminds_the_professional_once_a_morning_of_every_outcome_to_record(dr_alice):
    first = _past_booking(dr_alice, days_ago=1, hour=10)
    second = _past_booking(dr_alice, days_ago=1, hour=11)
    _past_booking(dr_alice, days_ago=3)
    assert outcome_reminder_send(booking_id=first.pk) == "queued"
    assert outcome_reminder_send(booking_id=second.pk) == "skipped"
    message = Notification.objects.get(kind="outcome_reminder")
    assert message.recipient == dr_alice.phone
    assert message.body.startswith("Relais : 3 rendez-vous SNP passé(s) sans issue")
    assert "/pro/patients/" in message.body
    # No patient identity in the message.
    assert first.request.patient.last_name not in message.body


def test_it_sends_no_reminder_for_a_recorded_outcome(dr_alice):
    booking = _past_booking(dr_alice, days_ago=1)
    booking_record_outcome(booking=booking, outcome="fulfilled", actor=dr_alice.user)
    assert outcome_reminder_send(booking_id=booking.pk) == "skipped"
    assert not Notification.objects.filter(kind="outcome_reminder").exists()
