from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from relais.agenda.models import SlotStatus
from relais.core.errors import ApplicationError, Conflict
from relais.notifications.models import Notification
from relais.orientation.models import Booking, BookingChannel, BookingStatus
from relais.orientation.services import (
    SlotUnavailable,
    booking_cancel,
    booking_create,
    booking_record_outcome,
)
from relais.regulation.models import RequestStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_it_books_a_free_slot(snp_request, olivia):
    slot = f.SlotFactory()
    booking = booking_create(request=snp_request, slot=slot, operator=olivia)
    slot.refresh_from_db()
    snp_request.refresh_from_db()
    assert booking.status == BookingStatus.BOOKED
    assert slot.status == SlotStatus.BOOKED
    assert snp_request.status == RequestStatus.BOOKED
    assert list(snp_request.events.values_list("to_status", flat=True)) == ["booked"]


def test_it_refuses_a_second_booking_of_the_same_slot_with_a_clear_message(cpts_a, olivia):
    slot = f.SlotFactory()
    other_slot = f.SlotFactory(start=timezone.now() + timedelta(hours=5))
    first, second = f.RequestFactory(), f.RequestFactory()
    booking_create(request=first, slot=slot, operator=olivia)
    with pytest.raises(SlotUnavailable) as refused:
        booking_create(request=second, slot=slot, operator=olivia)
    assert refused.value.message == "Créneau plus disponible."
    assert refused.value.http_status == 409
    # The refusal offers the next best slots, never the taken one.
    assert [r.slot for r in refused.value.alternatives] == [other_slot]
    second.refresh_from_db()
    assert second.status == RequestStatus.OPEN
    assert Booking.objects.filter(slot=slot).count() == 1


def test_it_refuses_a_slot_in_the_past(snp_request):
    slot = f.SlotFactory(start=timezone.now() - timedelta(hours=1))
    with pytest.raises(SlotUnavailable):
        booking_create(request=snp_request, slot=slot)


def test_it_refuses_to_book_a_request_that_is_not_open(snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    slot = f.SlotFactory()
    with pytest.raises(ApplicationError, match="n'est plus à orienter"):
        booking_create(request=snp_request, slot=slot)
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE  # the whole transaction rolled back


def test_it_database_refuses_two_active_bookings_of_one_slot(snp_request, cpts_a):
    slot = f.SlotFactory()
    Booking.objects.create(request=snp_request, slot=slot, channel=BookingChannel.UI)
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(request=f.RequestFactory(), slot=slot, channel=BookingChannel.UI)


def test_it_replays_an_idempotent_call(snp_request):
    slot = f.SlotFactory()
    first = booking_create(
        request=snp_request, slot=slot, idempotency_key="k1", idempotency_owner="client:1"
    )
    again = booking_create(
        request=snp_request, slot=slot, idempotency_key="k1", idempotency_owner="client:1"
    )
    assert again.pk == first.pk
    with pytest.raises(Conflict, match="idempotence"):
        booking_create(
            request=snp_request,
            slot=f.SlotFactory(),
            idempotency_key="k1",
            idempotency_owner="client:1",
        )


def test_it_cancels_frees_the_slot_and_puts_the_request_back_in_the_worklist(snp_request, olivia):
    slot = f.SlotFactory()
    booking = booking_create(request=snp_request, slot=slot, operator=olivia)
    booking_cancel(booking=booking, actor=olivia, reason="patient guéri")
    slot.refresh_from_db()
    snp_request.refresh_from_db()
    assert slot.status == SlotStatus.FREE
    assert snp_request.status == RequestStatus.OPEN
    assert snp_request.events.last().note == "Rendez-vous annulé : patient guéri"
    # The freed slot can be booked again.
    booking_create(request=f.RequestFactory(), slot=slot)
    with pytest.raises(ApplicationError, match="plus annulable"):
        booking_cancel(booking=booking)


def test_a_booking_cancelled_after_its_start_frees_its_slot_which_is_never_offered_again(
    snp_request, olivia
):
    """A slot is `booked` exactly when it holds a non-cancelled booking, past or future
    (the indicators count used slots by status)."""
    slot = f.SlotFactory()
    booking = booking_create(request=snp_request, slot=slot, operator=olivia)
    type(slot).objects.filter(pk=slot.pk).update(start=timezone.now() - timedelta(minutes=5))
    booking_cancel(booking=booking, actor=olivia, reason="erreur de saisie")
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE
    with pytest.raises(SlotUnavailable):
        booking_create(request=f.RequestFactory(), slot=slot)


def test_it_records_outcomes_only_after_the_appointment(snp_request, dr_alice):
    slot = f.SlotFactory(professional=dr_alice)
    booking = booking_create(request=snp_request, slot=slot)
    with pytest.raises(ApplicationError, match="pas encore eu lieu"):
        booking_record_outcome(booking=booking, outcome=BookingStatus.FULFILLED)
    slot.start = timezone.now() - timedelta(minutes=30)
    booking.slot = slot
    booking_record_outcome(booking=booking, outcome=BookingStatus.NOSHOW)
    snp_request.refresh_from_db()
    assert snp_request.status == RequestStatus.NOSHOW
    # A mis-tap is corrected within 7 days (issue 19; tests/orientation/test_outcomes.py).
    booking_record_outcome(booking=booking, outcome=BookingStatus.FULFILLED)
    snp_request.refresh_from_db()
    assert snp_request.status == RequestStatus.DONE
    with pytest.raises(ApplicationError, match="Issue inconnue"):
        booking_record_outcome(booking=booking, outcome="lost")


def test_it_writes_the_messages_in_the_booking_transaction(snp_request):
    from django_tasks_db.models import DBTaskResult

    slot = f.SlotFactory()
    booking_create(request=snp_request, slot=slot)
    kinds = sorted(Notification.objects.values_list("kind", "channel"))
    assert kinds == [
        ("booking_patient", "email"),
        ("booking_patient", "sms"),
        ("booking_professional", "sms"),
    ]
    # One task delivers the three (one INSERT each for messages and task, not three).
    task = DBTaskResult.objects.get(task_path__endswith="deliver_notifications")
    assert sorted(task.args_kwargs["args"][0]) == sorted(
        Notification.objects.values_list("pk", flat=True)
    )
    pro_sms = Notification.objects.get(kind="booking_professional")
    assert snp_request.patient.last_name not in pro_sms.body  # no identity by SMS


def test_it_writes_no_message_when_the_booking_fails(snp_request):
    slot = f.SlotFactory(status=SlotStatus.BLOCKED)
    with pytest.raises(SlotUnavailable):
        booking_create(request=snp_request, slot=slot)
    assert Notification.objects.count() == 0
