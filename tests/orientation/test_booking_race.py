"""Bookings racing in parallel threads, each with its own database connection."""

import pytest
from django.db import connection

from relais.agenda.models import Slot, SlotStatus
from relais.orientation.models import Booking
from relais.orientation.services import booking_create, slot_hold
from relais.regulation.models import Request
from tests import factories as f
from tests.concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs it there)")


def book_all(slot, requests):
    return race(
        [
            # The audit row names an API client: threads do not inherit the test's actor.
            lambda r=r: booking_create(
                request=Request.objects.get(pk=r.pk), slot=slot, api_client="course"
            )
            for r in requests
        ]
    )


def test_it_gives_a_slot_exactly_once_to_parallel_bookings(cpts_a):
    slot = f.SlotFactory()
    requests = [f.RequestFactory() for _ in range(2)]
    outcomes = book_all(slot, requests)
    assert sorted(outcomes) == ["ok", "refused:Créneau plus disponible."]
    assert Booking.objects.filter(slot=slot).count() == 1


def test_it_holds_under_many_threads_on_several_slots(cpts_a):
    slots = [f.SlotFactory() for _ in range(3)]
    for slot in slots:
        outcomes = book_all(slot, [f.RequestFactory() for _ in range(12)])
        assert outcomes.count("ok") == 1
        assert outcomes.count("refused:Créneau plus disponible.") == 11
    assert Booking.objects.count() == 3


def test_it_keeps_the_hold_limit_under_parallel_holds_of_one_operator(olivia, settings):
    """Eight holds of one operator at the same instant, limit 3: the operator's row lock
    serialises the count, so exactly 3 slots end held (without it, up to 8)."""
    from datetime import timedelta

    from django.utils import timezone

    settings.RELAIS_MAX_HOLDS_PER_OPERATOR = 3
    start = timezone.now() + timedelta(hours=2)
    slots = [f.SlotFactory(start=start + timedelta(minutes=20 * i)) for i in range(8)]
    outcomes = race([lambda s=s: slot_hold(slot=s, user=olivia) for s in slots])
    assert outcomes.count("ok") == 3, outcomes
    assert all(o == "ok" or o.startswith("refused:Vous retenez déjà") for o in outcomes)
    assert Slot.objects.filter(status=SlotStatus.HELD, held_by=olivia).count() == 3
