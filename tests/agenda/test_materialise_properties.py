"""Properties of the materialiser, on the database: whatever the rules (even ones the
services would refuse as overlapping), absences and bookings, the slots of one
professional never overlap, never fall in an absence, stay inside their rule's
wall-clock window, leave booked slots alone, and a second run changes nothing."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relais.agenda.models import AvailabilityRule, Slot, SlotStatus
from relais.agenda.services import slots_materialise
from relais.orientation.models import Booking
from tests.agenda.helpers import PARIS, book

pytestmark = pytest.mark.django_db

# Windows around both DST changes of 2026 and an ordinary one.
FIRST_DAYS = [date(2026, 3, 22), date(2026, 10, 18), date(2026, 6, 8)]

rule_strategy = st.builds(
    dict,
    weekdays=st.sets(st.integers(0, 6), min_size=1, max_size=7).map(sorted),
    start=st.integers(0, 22 * 4).map(lambda q: q * 15),  # minutes, quarter hours
    length=st.integers(1, 4 * 4).map(lambda q: q * 15),
    slot_minutes=st.sampled_from([None, 15, 20, 30, 45, 60]),
    capacity=st.integers(1, 4),
)


def _time(minutes: int) -> time:
    return time(0) if minutes >= 24 * 60 else time(minutes // 60, minutes % 60)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rules=st.lists(rule_strategy, min_size=1, max_size=3),
    first_day=st.sampled_from(FIRST_DAYS),
    hour=st.integers(0, 23),
    vacation=st.tuples(st.integers(0, 13 * 24), st.integers(1, 72)),
    booked_index=st.integers(0, 1000),
)
def test_it_keeps_the_materialised_agenda_consistent(
    dr_alice, rules, first_day, hour, vacation, booked_index
):
    Booking.objects.filter(slot__professional=dr_alice).delete()
    Slot.objects.filter(professional=dr_alice).delete()
    AvailabilityRule.objects.filter(professional=dr_alice).delete()
    dr_alice.availability_exceptions.all().delete()
    practice = dr_alice.practices.first()
    now = datetime.combine(first_day, time(hour), tzinfo=PARIS)
    created = []
    for r in rules:
        end = min(r["start"] + r["length"], 24 * 60)
        slot_minutes = r["slot_minutes"]
        if slot_minutes is not None and slot_minutes > end - r["start"]:
            slot_minutes = None
        created.append(
            AvailabilityRule.objects.create(
                professional=dr_alice,
                practice=practice,
                weekdays=r["weekdays"],
                start_time=_time(r["start"]),
                end_time=_time(end),
                slot_minutes=slot_minutes,
                capacity=r["capacity"] if slot_minutes is None else 1,
            )
        )
    slots_materialise(professional=dr_alice, now=now)
    existing = list(Slot.objects.filter(professional=dr_alice))
    booked = None
    if existing:
        booked = existing[booked_index % len(existing)]
        book(booked)
    absence_start = now + timedelta(hours=vacation[0])
    absence_end = absence_start + timedelta(hours=vacation[1])
    dr_alice.availability_exceptions.create(start=absence_start, end=absence_end)
    slots_materialise(professional=dr_alice, now=now)
    second = slots_materialise(professional=dr_alice, now=now)
    assert (second.created, second.updated, second.removed) == (0, 0, 0)

    slots = list(Slot.objects.filter(professional=dr_alice).exclude(status=SlotStatus.BLOCKED))
    if booked is not None:
        kept = Slot.objects.get(pk=booked.pk)
        assert kept.status == SlotStatus.BOOKED
        assert (kept.start, kept.end) == (booked.start, booked.end)
    by_rule = {r.pk: r for r in created}
    intervals = sorted({(s.start, s.end) for s in slots})
    for (_, e1), (s2, _) in zip(intervals, intervals[1:], strict=False):
        assert e1 <= s2, "overlapping slots"
    for slot in slots:
        if slot.status == SlotStatus.FREE:
            assert not (slot.start < absence_end and absence_start < slot.end)
            assert slot.start >= now
        rule = by_rule[slot.rule_id]
        local = timezone.localtime(slot.start)
        assert local.weekday() in rule.weekdays
        assert local.time() >= rule.start_time
        end_local = timezone.localtime(slot.end)
        rule_end = datetime.combine(
            local.date() + timedelta(days=1 if rule.end_time == time(0) else 0),
            rule.end_time,
            tzinfo=PARIS,
        )
        # In UTC: aware datetimes sharing a tzinfo compare as wall times, and a slot may
        # end at the spring-forward jump (01:30-02:00 ends at 03:00 summer time).
        assert end_local.astimezone(UTC) <= rule_end.astimezone(UTC)
        if rule.slot_minutes:
            assert slot.end - slot.start == timedelta(minutes=rule.slot_minutes)
            minutes = local.hour * 60 + local.minute
            offset = rule.start_time.hour * 60 + rule.start_time.minute
            assert (minutes - offset) % rule.slot_minutes == 0, "off the rule's wall-clock grid"
