from datetime import UTC, date, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from relais.agenda.models import AvailabilityException, AvailabilityRule, Slot, SlotStatus
from relais.agenda.services import (
    OneOff,
    exception_create,
    exception_delete,
    rule_create,
    rule_delete,
    rule_update,
    slot_block,
    slot_cancel_booking,
    slots_create_one_off,
    slots_materialise,
)
from relais.core.errors import ApplicationError
from relais.notifications.models import Notification
from relais.orientation.models import BookingStatus
from relais.orientation.services import booking_cancel, booking_create
from relais.regulation.models import RequestStatus
from tests import factories as f
from tests.agenda.helpers import PARIS, book, free_slots, paris, rule_input

pytestmark = pytest.mark.django_db

# Monday 30 November 2026, 08:00 in Paris; 14 days ahead hold 4 Tuesdays/Thursdays.
MONDAY = paris(2026, 11, 30, 8)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY, tick=False):
        yield


def test_it_materialises_a_weekly_rule_into_slots(dr_alice, clock):
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice))
    slots = list(free_slots(dr_alice))
    assert len(slots) == 4 * 6
    local = [timezone.localtime(s.start) for s in slots]
    assert {t.weekday() for t in local} == {1, 3}
    assert [t.strftime("%H:%M") for t in local[:6]] == [
        "17:00",
        "17:20",
        "17:40",
        "18:00",
        "18:20",
        "18:40",
    ]
    assert all(s.rule == rule and s.end - s.start == timedelta(minutes=20) for s in slots)
    assert all(s.for_sas and not s.for_cpts and not s.for_public for s in slots)
    assert not any(s.pdsa for s in slots)


def test_it_is_idempotent(dr_alice, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    before = list(Slot.objects.values_list("pk", "start", "status"))
    again = slots_materialise(professional=dr_alice)
    everyone = slots_materialise()
    assert (again.created, again.updated, again.removed) == (0, 0, 0)
    assert (everyone.created, everyone.updated, everyone.removed) == (0, 0, 0)
    assert list(Slot.objects.values_list("pk", "start", "status")) == before


def test_it_creates_the_next_day_as_the_horizon_rolls(dr_alice, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice, weekdays=list(range(7))))
    assert free_slots(dr_alice).count() == 14 * 6
    later = MONDAY + timedelta(days=1)
    result = slots_materialise(now=later)
    assert result.created == 6 and result.removed == 0


def test_it_never_touches_booked_slots_when_the_rule_changes_or_goes(dr_alice, clock):
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice))
    booked = free_slots(dr_alice)[1]
    booking = book(booked)
    rule_update(rule=rule, data=rule_input(dr_alice, start_time=time(8), end_time=time(10)))
    booked.refresh_from_db()
    assert booked.status == SlotStatus.BOOKED and booked.rule == rule
    assert booked.bookings.get() == booking
    starts = {timezone.localtime(s.start).hour for s in free_slots(dr_alice)}
    assert starts == {8, 9}

    kept = rule_delete(rule=rule)
    booked.refresh_from_db()
    assert kept == 1
    assert booked.status == SlotStatus.BOOKED and booked.rule is None
    assert not free_slots(dr_alice).exists()
    assert slots_materialise().created == 0


def test_it_refreshes_the_channels_of_free_slots_only(dr_alice, clock):
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice))
    booked = free_slots(dr_alice)[0]
    book(booked)
    result = rule_update(rule=rule, data=rule_input(dr_alice, for_public=True))
    assert result.for_public
    assert all(s.for_public for s in free_slots(dr_alice))
    booked.refresh_from_db()
    assert not booked.for_public


def test_it_blocks_instead_of_deleting_a_free_slot_with_a_cancelled_booking(
    dr_alice, olivia, clock
):
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice))
    slot = free_slots(dr_alice)[0]
    booking = booking_create(request=f.RequestFactory(), slot=slot, operator=olivia)
    booking_cancel(booking=booking, actor=olivia)
    rule_update(rule=rule, data=rule_input(dr_alice, start_time=time(9), end_time=time(10)))
    slot.refresh_from_db()
    assert slot.status == SlotStatus.BLOCKED and slot.rule is None
    assert slot.bookings.get().status == BookingStatus.CANCELLED


def test_it_removes_free_slots_in_a_vacation_and_brings_them_back(dr_alice, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    first_week = [s for s in free_slots(dr_alice) if s.start < paris(2026, 12, 7)]
    book(first_week[0])
    vacation = exception_create(
        professional=dr_alice, start=paris(2026, 12, 1), end=paris(2026, 12, 7)
    )
    assert vacation.booked_inside == 1
    assert all(s.start >= paris(2026, 12, 7) for s in free_slots(dr_alice))
    assert free_slots(dr_alice).count() == 12
    assert Slot.objects.get(pk=first_week[0].pk).status == SlotStatus.BOOKED

    exception_delete(exception=vacation)
    assert free_slots(dr_alice).count() == 24 - 1


def test_it_closes_one_off_slots_in_a_new_absence(dr_alice, clock):
    slots_create_one_off(
        professional=dr_alice,
        practice=dr_alice.practices.first(),
        items=[OneOff(paris(2026, 12, 2, 10), paris(2026, 12, 2, 10, 30))],
    )
    exception_create(professional=dr_alice, start=paris(2026, 12, 2), end=paris(2026, 12, 3))
    assert Slot.objects.get().status == SlotStatus.BLOCKED


def test_it_does_not_bring_back_a_slot_the_professional_closed(dr_alice, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    slot = free_slots(dr_alice)[0]
    slot_block(slot=slot)
    assert slots_materialise().created == 0
    assert free_slots(dr_alice).count() == 23
    with pytest.raises(ApplicationError, match="n'est plus libre"):
        slot_block(slot=slot)


def test_it_cancels_a_booking_back_to_the_worklist_and_tells_the_patient(dr_alice, olivia, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    slot = free_slots(dr_alice)[0]
    request = f.RequestFactory()
    booking = booking_create(request=request, slot=slot, operator=olivia)
    slot_cancel_booking(slot=slot, actor=dr_alice.user)
    booking.refresh_from_db()
    request.refresh_from_db()
    slot.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert request.status == RequestStatus.OPEN
    assert slot.status == SlotStatus.BLOCKED
    sms = Notification.objects.get(kind="booking_cancelled_patient", channel="sms")
    assert "annulé" in sms.body and sms.recipient == request.patient.phone
    with pytest.raises(ApplicationError, match="Aucun rendez-vous"):
        slot_cancel_booking(slot=slot)


def test_it_makes_one_row_per_place_of_a_plage(dr_alice, clock):
    rule_create(
        professional=dr_alice,
        data=rule_input(dr_alice, weekdays=[1], slot_minutes=None, capacity=3),
    )
    slots = list(free_slots(dr_alice))
    assert len(slots) == 2 * 3
    first = slots[:3]
    assert [s.place for s in first] == [0, 1, 2]
    assert all(s.is_plage and s.start == first[0].start and s.end == first[0].end for s in first)


def test_it_flags_pdsa_slots_and_skips_public_holidays(dr_alice, clock):
    rule_create(
        professional=dr_alice,
        data=rule_input(dr_alice, weekdays=[4], start_time=time(20), end_time=time(22)),
    )
    slots = list(free_slots(dr_alice))
    assert slots and all(s.pdsa for s in slots)
    # Fridays 4 and 11 December; Friday 25 December is beyond the horizon anyway.
    assert {timezone.localdate(s.start) for s in slots} == {date(2026, 12, 4), date(2026, 12, 11)}
    with time_machine.travel(paris(2026, 12, 21, 8), tick=False):
        slots_materialise()
    days = {timezone.localdate(s.start) for s in free_slots(dr_alice)}
    # Friday 25 December and Friday 1 January are public holidays: nothing after the 21st.
    assert days == {date(2026, 12, 4), date(2026, 12, 11)}


def test_it_copies_the_age_range_and_keeps_the_motifs_on_the_rule(dr_alice, clock):
    from relais.regulation.models import Motif

    motif = Motif.objects.get(code="R74")
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice, age_max=15, motifs=[motif]))
    slot = free_slots(dr_alice)[0]
    assert (slot.age_min, slot.age_max) == (None, 15)
    assert list(slot.rule.motifs.all()) == [motif] == list(rule.motifs.all())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start_time": time(19), "end_time": time(17)}, "doit être postérieure"),
        ({"slot_minutes": 500}, "comprise entre 5 et 240"),
        ({"slot_minutes": 2}, "comprise entre 5 et 240"),
        ({"slot_minutes": None, "capacity": 400}, "capacité"),
        ({"weekdays": []}, "au moins un jour"),
        ({"for_sas": False}, "au moins un canal"),
        ({"age_min": 18, "age_max": 6}, "âge minimum"),
        ({"valid_until": date(2026, 11, 1)}, "déjà passée"),
        ({"valid_from": date(2026, 11, 1)}, "déjà passé"),
        ({"weekdays": [3], "start_time": time(18), "end_time": time(20)}, "chevauche"),
    ],
)
def test_it_refuses_bad_rules_in_french_and_changes_nothing(dr_alice, clock, overrides, message):
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice))
    before = list(Slot.objects.values_list("pk", "start", "end", "status", "for_sas"))
    with pytest.raises(ApplicationError, match=message):
        rule_create(professional=dr_alice, data=rule_input(dr_alice, **overrides))
    assert AvailabilityRule.objects.count() == 1
    # An existing rule may have started in the past; only a new one may not.
    if "chevauche" not in message and "valid_from" not in overrides:
        with pytest.raises(ApplicationError, match=message):
            rule_update(rule=rule, data=rule_input(dr_alice, **overrides))
        rule.refresh_from_db()
        assert (rule.start_time, rule.end_time, rule.slot_minutes) == (time(17), time(19), 20)
    assert list(Slot.objects.values_list("pk", "start", "end", "status", "for_sas")) == before


def test_it_refuses_a_practice_of_another_professional(dr_alice, clock):
    other = f.ProfessionalFactory()
    with pytest.raises(ApplicationError, match="lieux d'exercice"):
        rule_create(
            professional=dr_alice, data=rule_input(dr_alice, practice=other.practices.first())
        )
    assert not Slot.objects.exists()


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (paris(2026, 12, 3), paris(2026, 12, 1), "postérieure"),
        (paris(2026, 11, 1), paris(2026, 11, 2), "passée"),
        (paris(2026, 12, 1), paris(2028, 12, 1), "au plus 366"),
    ],
)
def test_it_refuses_bad_absences_and_changes_nothing(dr_alice, clock, start, end, message):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    with pytest.raises(ApplicationError, match=message):
        exception_create(professional=dr_alice, start=start, end=end)
    assert not AvailabilityException.objects.exists()
    assert free_slots(dr_alice).count() == 24


def test_it_adds_one_off_slots_and_refuses_past_or_absurd_ones(dr_alice, clock):
    practice = dr_alice.practices.first()
    ok = OneOff(paris(2026, 12, 2, 10), paris(2026, 12, 2, 10, 30), uid="a@x")
    result = slots_create_one_off(professional=dr_alice, practice=practice, items=[ok])
    assert result.created == 1
    again = slots_create_one_off(professional=dr_alice, practice=practice, items=[ok])
    assert (again.created, again.skipped_taken) == (0, 1)
    for bad, message in [
        (OneOff(paris(2026, 11, 2, 10), paris(2026, 11, 2, 11)), "déjà passé"),
        (OneOff(paris(2026, 12, 2, 10), paris(2026, 12, 2, 9)), "la fin précède"),
        (OneOff(paris(2026, 12, 2, 10), paris(2026, 12, 3, 10)), "plus de 12 heures"),
    ]:
        with pytest.raises(ApplicationError, match=message):
            slots_create_one_off(professional=dr_alice, practice=practice, items=[ok, bad])
    assert Slot.objects.count() == 1


def test_it_does_not_overlay_rule_slots_on_one_off_ones(dr_alice, clock):
    slots_create_one_off(
        professional=dr_alice,
        practice=dr_alice.practices.first(),
        items=[OneOff(paris(2026, 12, 1, 17, 10), paris(2026, 12, 1, 17, 50))],
    )
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    tuesday = [
        timezone.localtime(s.start).strftime("%H:%M")
        for s in free_slots(dr_alice)
        if timezone.localdate(s.start) == date(2026, 12, 1)
    ]
    assert tuesday == ["17:10", "18:00", "18:20", "18:40"]


def test_it_refuses_an_absurd_horizon(dr_alice):
    with pytest.raises(ApplicationError, match="horizon"):
        slots_materialise(horizon_days=1000)


# --- daylight saving time ------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "sunday", "winter_before"),
    [
        (paris(2026, 3, 23, 8), date(2026, 3, 29), True),  # spring forward
        (paris(2026, 10, 19, 8), date(2026, 10, 25), False),  # fall back
    ],
)
def test_it_keeps_wall_clock_times_across_dst(dr_alice, today, sunday, winter_before):
    with time_machine.travel(today, tick=False):
        rule_create(
            professional=dr_alice,
            data=rule_input(dr_alice, weekdays=[5, 6], start_time=time(17), end_time=time(18)),
        )
    slots = list(free_slots(dr_alice))
    assert {timezone.localtime(s.start).strftime("%H:%M") for s in slots} == {
        "17:00",
        "17:20",
        "17:40",
    }
    saturday = [s for s in slots if timezone.localdate(s.start) == sunday - timedelta(days=1)]
    on_sunday = [s for s in slots if timezone.localdate(s.start) == sunday]
    offsets = {
        timezone.localtime(saturday[0].start).utcoffset(),
        timezone.localtime(on_sunday[0].start).utcoffset(),
    }
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}
    utc_hour_saturday = saturday[0].start.astimezone(UTC).hour
    assert utc_hour_saturday == (16 if winter_before else 15)


def test_it_skips_the_missing_hour_on_the_spring_forward_night(dr_alice):
    with time_machine.travel(paris(2026, 3, 28, 8), tick=False):
        rule_create(
            professional=dr_alice,
            data=rule_input(dr_alice, weekdays=[6], start_time=time(1), end_time=time(4)),
        )
    night = [s for s in free_slots(dr_alice) if timezone.localdate(s.start) == date(2026, 3, 29)]
    hours = [timezone.localtime(s.start).strftime("%H:%M") for s in night]
    assert not any(h.startswith("02:") for h in hours)
    assert hours[0] == "01:00" and hours[-1] == "03:40"
    assert all(s.end - s.start == timedelta(minutes=20) for s in night)
    assert all(a.end <= b.start for a, b in zip(night, night[1:], strict=False))


def test_it_materialises_in_paris_dates_whatever_the_utc_date(dr_alice):
    # 23:30 UTC on Monday is already Tuesday in Paris: Tuesday's slots are still ahead.
    with time_machine.travel(paris(2026, 12, 1, 0, 30).astimezone(PARIS), tick=False):
        rule_create(professional=dr_alice, data=rule_input(dr_alice, weekdays=[1]))
    assert timezone.localdate(free_slots(dr_alice)[0].start) == date(2026, 12, 1)
