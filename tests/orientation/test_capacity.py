"""A professional's SNP caps (max_snp_per_day / max_snp_per_week, set on the participation
page) are enforced when a slot is booked, under a lock on the professional."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from relais.orientation.models import Booking, BookingStatus
from relais.orientation.services import (
    ProfessionalFull,
    booking_cancel,
    booking_create,
)
from relais.regulation.models import Request
from tests import factories as f
from tests.api.test_api import auth, make_token
from tests.concurrency import race

PARIS = ZoneInfo("Europe/Paris")


def _monday_next_week_at(hour: int) -> datetime:
    today = timezone.localtime().date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime(monday.year, monday.month, monday.day, hour, tzinfo=PARIS)


@pytest.mark.django_db
def test_it_refuses_a_slot_beyond_the_daily_cap_but_not_the_next_day(cpts_a):
    pro = f.ProfessionalFactory(max_snp_per_day=1)
    monday = _monday_next_week_at(9)
    first = f.SlotFactory(professional=pro, start=monday)
    same_day = f.SlotFactory(professional=pro, start=monday + timedelta(hours=3))
    next_day = f.SlotFactory(professional=pro, start=monday + timedelta(days=1))
    booking_create(request=f.RequestFactory(), slot=first)
    with pytest.raises(ProfessionalFull, match="maximal de patients SNP .* ce jour-là \\(1\\)"):
        booking_create(request=f.RequestFactory(), slot=same_day)
    same_day.refresh_from_db()
    assert same_day.status == "free"  # nothing taken, nothing half-written
    booking_create(request=f.RequestFactory(), slot=next_day)


@pytest.mark.django_db
def test_it_counts_the_week_monday_to_sunday_and_ignores_cancelled_bookings(cpts_a):
    pro = f.ProfessionalFactory(max_snp_per_week=2)
    monday = _monday_next_week_at(10)
    slots = [f.SlotFactory(professional=pro, start=monday + timedelta(days=d)) for d in range(4)]
    sunday_before = f.SlotFactory(professional=pro, start=monday - timedelta(days=1))
    first = booking_create(request=f.RequestFactory(), slot=slots[0])
    booking_create(request=f.RequestFactory(), slot=slots[1])
    booking_create(request=f.RequestFactory(), slot=sunday_before)  # the week before
    with pytest.raises(ProfessionalFull, match="cette semaine-là \\(2\\)"):
        booking_create(request=f.RequestFactory(), slot=slots[2])
    booking_cancel(booking=first)
    booking_create(request=f.RequestFactory(), slot=slots[2])
    assert Booking.objects.filter(slot__professional=pro, status=BookingStatus.BOOKED).count() == 3


@pytest.mark.django_db
def test_the_api_answers_409_with_alternatives_from_other_professionals(client, cpts_a):
    capped = f.ProfessionalFactory(max_snp_per_day=1)
    start = timezone.now() + timedelta(hours=3)
    booking_create(request=f.RequestFactory(), slot=f.SlotFactory(professional=capped, start=start))
    refused = f.SlotFactory(professional=capped, start=start + timedelta(minutes=30))
    other = f.SlotFactory(start=start + timedelta(hours=1))
    req = f.RequestFactory()
    body = json.dumps({"request": str(req.public_id), "slot": str(refused.public_id)})
    token = make_token("requests:read,appointments:write")
    # Alternatives come from the caller's last ranking of the request (no search in the 409).
    client.get(f"/api/v1/requests/{req.public_id}/slots", **auth(token))
    response = client.post("/api/v1/bookings", body, content_type="application/json", **auth(token))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "professional_capacity_reached"
    assert [a["id"] for a in error["alternatives"]] == [str(other.public_id)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_parallel_bookings_cannot_both_take_the_last_place(cpts_a):
    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs it there)")
    pro = f.ProfessionalFactory(max_snp_per_day=1)
    monday = _monday_next_week_at(9)
    slots = [f.SlotFactory(professional=pro, start=monday + timedelta(hours=h)) for h in (0, 2)]
    requests = [f.RequestFactory() for _ in slots]
    outcomes = race(
        [
            lambda s=s, r=r: booking_create(request=Request.objects.get(pk=r.pk), slot=s)
            for s, r in zip(slots, requests, strict=True)
        ]
    )
    assert sorted(o.split(":")[0] for o in outcomes) == ["ok", "refused"], outcomes
    assert Booking.objects.filter(slot__professional=pro).count() == 1
