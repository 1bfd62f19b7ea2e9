"""Bookings racing in parallel threads, each with its own database connection."""

import pytest
from django.db import connection

from relais.orientation.models import Booking
from relais.orientation.services import booking_create
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
            lambda r=r: booking_create(request=Request.objects.get(pk=r.pk), slot=slot)
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
