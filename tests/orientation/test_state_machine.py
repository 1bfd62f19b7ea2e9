"""Hold / book / cancel / expire / niveau-2 sequences driven by hypothesis, with the
booking invariants checked after every step."""

import contextlib
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from hypothesis.strategies import integers, sampled_from

from relais.accounts.models import Role
from relais.agenda.models import Slot, SlotStatus
from relais.core.errors import ApplicationError
from relais.orientation.models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    BookingStatus,
    Level2Call,
    Level2Offer,
    Level2Status,
)
from relais.orientation.services import (
    booking_cancel,
    booking_create,
    level2_accept,
    level2_check,
    level2_launch,
    slot_hold,
    slot_release,
)
from relais.regulation.models import Request, RequestStatus
from tests import factories as f


class Orientation(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        sas = f.sas("91")
        cpts = f.CptsFactory(sas=sas)
        cpts.communes.add(f.commune("91228"))
        self.operators = [f.member(f.UserFactory(), Role.OPERATEUR, sas_obj=sas) for _ in range(2)]
        now = timezone.now()
        self.slots = [f.SlotFactory(start=now + timedelta(hours=2 + i)) for i in range(3)]
        self.requests = [f.RequestFactory() for _ in range(3)]
        for _ in range(2):
            f.ProfessionalFactory(cpts_level2=True)

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @rule(op=integers(0, 1), slot=integers(0, 2))
    def hold(self, op, slot):
        with contextlib.suppress(ApplicationError):
            slot_hold(slot=self.slots[slot], user=self.operators[op])

    @rule(op=integers(0, 1), slot=integers(0, 2))
    def release(self, op, slot):
        slot_release(slot=self.slots[slot], user=self.operators[op])

    @rule(slot=integers(0, 2))
    def expire_hold(self, slot):
        Slot.objects.filter(pk=self.slots[slot].pk, status=SlotStatus.HELD).update(
            held_until=timezone.now() - timedelta(seconds=1)
        )

    @rule(op=integers(0, 2), req=integers(0, 2), slot=integers(0, 2))
    def book(self, op, req, slot):
        operator = self.operators[op] if op < 2 else None  # 2: an API client
        request = Request.objects.get(pk=self.requests[req].pk)
        with contextlib.suppress(ApplicationError):
            booking_create(request=request, slot=self.slots[slot], operator=operator)

    @precondition(lambda self: Booking.objects.filter(status=BookingStatus.BOOKED).exists())
    @rule(data=integers(0, 10))
    def cancel(self, data):
        bookings = list(Booking.objects.filter(status=BookingStatus.BOOKED).order_by("pk"))
        booking_cancel(booking=bookings[data % len(bookings)], reason="test")

    @rule(req=integers(0, 2))
    def launch_level2(self, req):
        with contextlib.suppress(ApplicationError):
            level2_launch(request=Request.objects.get(pk=self.requests[req].pk))

    @precondition(lambda self: Level2Offer.objects.exists())
    @rule(data=integers(0, 10), hours=sampled_from([1, 3]))
    def accept_offer(self, data, hours):
        offers = list(Level2Offer.objects.select_related("professional").order_by("pk"))
        with contextlib.suppress(ApplicationError):
            level2_accept(
                offer=offers[data % len(offers)], start=timezone.now() + timedelta(hours=hours)
            )

    @precondition(lambda self: Level2Call.objects.filter(status=Level2Status.OPEN).exists())
    @rule()
    def deadline(self):
        call = Level2Call.objects.filter(status=Level2Status.OPEN).first()
        level2_check(call_id=call.pk, now=call.deadline + timedelta(seconds=1))

    @invariant()
    def a_slot_is_never_given_twice(self):
        assert not (
            Booking.objects.filter(status__in=ACTIVE_BOOKING_STATUSES)
            .values("slot")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .exists()
        )

    @invariant()
    def slot_status_matches_its_bookings(self):
        for slot in Slot.objects.annotate(
            active=Count("bookings", filter=Q(bookings__status__in=ACTIVE_BOOKING_STATUSES))
        ):
            if slot.active:
                assert slot.status == SlotStatus.BOOKED
            else:
                assert slot.status != SlotStatus.BOOKED

    @invariant()
    def request_status_matches_its_bookings(self):
        for req in Request.objects.annotate(
            pending=Count("bookings", filter=Q(bookings__status=BookingStatus.BOOKED))
        ):
            assert req.pending <= 1
            assert (req.status == RequestStatus.BOOKED) == (req.pending == 1)

    @invariant()
    def niveau2_calls_are_consistent(self):
        for call in Level2Call.objects.select_related("booking"):
            if call.status == Level2Status.ACCEPTED:
                assert call.booking is not None and call.accepted_by_id is not None
            if call.status == Level2Status.OPEN:
                assert call.request.status == RequestStatus.OPEN
        assert (
            Level2Call.objects.filter(status=Level2Status.OPEN)
            .values("request")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
            == 0
        )


Orientation.TestCase.settings = settings(max_examples=25, stateful_step_count=20)


@pytest.mark.django_db
def test_it_keeps_the_booking_invariants_through_any_sequence():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(Orientation, settings=Orientation.TestCase.settings)
