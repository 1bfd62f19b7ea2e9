"""Bookings racing in parallel threads, each with its own database connection."""

import threading

import pytest
from django.db import connection, connections

from relais.orientation.models import Booking
from relais.orientation.services import SlotUnavailable, booking_create
from relais.regulation.models import Request
from tests import factories as f

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs it there)")


def race(n_threads: int, slot, requests):
    barrier = threading.Barrier(n_threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(req):
        try:
            barrier.wait()
            booking_create(request=Request.objects.get(pk=req.pk), slot=slot)
            result = "booked"
        except SlotUnavailable as exc:
            result = f"refused:{exc.message}"
        except Exception as exc:  # noqa: BLE001 - any other error is a failure of the test
            result = f"error:{exc!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_it_gives_a_slot_exactly_once_to_parallel_bookings(cpts_a):
    slot = f.SlotFactory()
    requests = [f.RequestFactory() for _ in range(2)]
    outcomes = race(2, slot, requests)
    assert sorted(outcomes) == ["booked", "refused:Créneau plus disponible."]
    assert Booking.objects.filter(slot=slot).count() == 1


def test_it_holds_under_many_threads_on_several_slots(cpts_a):
    slots = [f.SlotFactory() for _ in range(3)]
    for slot in slots:
        outcomes = race(12, slot, [f.RequestFactory() for _ in range(12)])
        assert outcomes.count("booked") == 1
        assert outcomes.count("refused:Créneau plus disponible.") == 11
    assert Booking.objects.count() == 3
