import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relais.agenda.recurrence import (
    InvalidRule,
    Occurrence,
    Period,
    WeeklyRule,
    expand,
    expand_many,
    overlapping,
    validate_rule,
)
from relais.territory.hours import is_public_holiday

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
SUNDAY = frozenset({6})
SPRING_FORWARD = [date(2026, 3, 29), date(2027, 3, 28)]
FALL_BACK = [date(2026, 10, 25), date(2027, 10, 31)]
DST_SUNDAYS = SPRING_FORWARD + FALL_BACK
EPSILON = timedelta(microseconds=1)


def make_rule(
    weekdays=WEEKDAYS, start=(8, 0), end=(12, 0), slot: int | None = 15, **kwargs
) -> WeeklyRule:
    return WeeklyRule(weekdays, time(*start), time(*end), slot, **kwargs)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def local_times(occurrences: list[Occurrence]) -> list[str]:
    return [f"{o.start.astimezone(PARIS):%H:%M}" for o in occurrences]


def is_dst_day(day: date) -> bool:
    midnight = datetime.combine(day, time(0), tzinfo=PARIS)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)
    return midnight.utcoffset() != next_midnight.utcoffset()


# --- plain expansion ---------------------------------------------------------------


def test_it_keeps_wall_clock_times_in_winter_and_summer():
    rule = make_rule(weekdays={0}, start=(17, 0), end=(19, 0), slot=None)
    [winter] = expand(rule, start=date(2026, 1, 5), days=1)
    [summer] = expand(rule, start=date(2026, 7, 6), days=1)
    assert (winter.start, winter.end) == (
        datetime(2026, 1, 5, 16, tzinfo=UTC),
        datetime(2026, 1, 5, 18, tzinfo=UTC),
    )
    assert (summer.start, summer.end) == (
        datetime(2026, 7, 6, 15, tzinfo=UTC),
        datetime(2026, 7, 6, 17, tzinfo=UTC),
    )
    assert winter.start.tzinfo is UTC
    assert winter.is_plage and winter.capacity == 1


def test_it_cuts_exact_slots_and_drops_the_last_partial_one():
    rule = make_rule(weekdays={1}, start=(8, 0), end=(9, 10), slot=20)
    slots = expand(rule, start=date(2026, 3, 10), days=1)
    assert local_times(slots) == ["08:00", "08:20", "08:40"]
    assert slots[-1].end == paris(2026, 3, 10, 9, 0)
    assert all(o.end - o.start == timedelta(minutes=20) for o in slots)
    assert not any(o.is_plage for o in slots)


def test_it_uses_only_the_rule_weekdays_and_validity_dates():
    rule = make_rule(
        weekdays={0, 2},
        start=(9, 0),
        end=(10, 0),
        slot=60,
        valid_from=date(2026, 3, 4),
        valid_until=date(2026, 3, 16),
    )
    slots = expand(rule, start=date(2026, 3, 1), days=31)
    days = [o.start.astimezone(PARIS).date() for o in slots]
    # Wednesday 4 (first valid day), Monday 9, Wednesday 11, Monday 16 (inclusive end).
    assert days == [date(2026, 3, 4), date(2026, 3, 9), date(2026, 3, 11), date(2026, 3, 16)]


def test_it_expands_nothing_for_zero_days_and_refuses_negative_ones():
    assert expand(make_rule(), start=date(2026, 3, 9), days=0) == []
    with pytest.raises(ValueError):
        expand(make_rule(), start=date(2026, 3, 9), days=-1)


def test_it_reads_midnight_as_the_end_of_the_day():
    rule = make_rule(weekdays={0}, start=(20, 0), end=(0, 0), slot=60)
    slots = expand(rule, start=date(2026, 1, 5), days=1)
    assert local_times(slots) == ["20:00", "21:00", "22:00", "23:00"]
    assert slots[-1].end == paris(2026, 1, 6, 0, 0)
    assert all(o.pdsa for o in slots)


def test_it_accepts_any_iterable_of_weekdays():
    rule = WeeklyRule([0, 1, 1], time(8), time(9), 30)
    assert rule.weekdays == frozenset({0, 1})
    assert hash(rule) == hash(make_rule(weekdays=frozenset({0, 1}), end=(9, 0), slot=30))


def test_it_gives_plage_capacity_and_slot_capacity():
    plage = make_rule(weekdays={1}, start=(14, 0), end=(18, 0), slot=None, capacity=6)
    [occurrence] = expand(plage, start=date(2026, 3, 10), days=1)
    assert occurrence.capacity == 6 and occurrence.is_plage
    slots = expand(make_rule(weekdays={1}, capacity=2), start=date(2026, 3, 10), days=1)
    assert {o.capacity for o in slots} == {2}


def test_it_expands_in_another_zone_when_asked():
    rule = make_rule(weekdays={0}, start=(19, 0), end=(20, 0), slot=30)
    slots = expand(rule, start=date(2026, 1, 5), days=1, tz="UTC")
    assert [o.start for o in slots] == [
        datetime(2026, 1, 5, 19, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 19, 30, tzinfo=UTC),
    ]
    # 19:00Z is 20:00 in Paris: PDSA.
    assert [o.pdsa for o in slots] == [True, True]


# --- public holidays -------------------------------------------------------------------


@pytest.mark.parametrize(
    "holiday", [date(2026, 5, 1), date(2026, 7, 14), date(2026, 4, 6), date(2026, 5, 14)]
)
def test_it_skips_public_holidays(holiday):
    monday = holiday - timedelta(days=holiday.weekday())
    rule = make_rule(start=(9, 0), end=(10, 0), slot=60)
    days = {o.start.astimezone(PARIS).date() for o in expand(rule, start=monday, days=7)}
    assert holiday not in days
    assert monday + timedelta(days=(holiday.weekday() + 1) % 5) in days


def test_it_keeps_public_holidays_when_asked():
    rule = make_rule(start=(9, 0), end=(10, 0), slot=60, skip_public_holidays=False)
    days = {o.start.astimezone(PARIS).date() for o in expand(rule, start=date(2026, 5, 1), days=1)}
    assert days == {date(2026, 5, 1)}
    [slot] = expand(rule, start=date(2026, 7, 14), days=1)
    assert slot.pdsa  # a holiday daytime is PDSA


# --- exceptions and not_before -------------------------------------------------------------


def test_it_removes_every_occurrence_overlapping_an_exception():
    rule = make_rule(start=(10, 0), end=(11, 0), slot=15)
    block = Period(paris(2026, 3, 10, 10, 10), paris(2026, 3, 10, 10, 20))
    slots = expand(rule, start=date(2026, 3, 10), days=1, exceptions=[block])
    assert local_times(slots) == ["10:30", "10:45"]


def test_it_keeps_occurrences_that_only_touch_an_exception():
    rule = make_rule(start=(10, 0), end=(11, 0), slot=30)
    block = Period(paris(2026, 3, 10, 9, 0), paris(2026, 3, 10, 10, 0))
    after = Period(paris(2026, 3, 10, 11, 0), paris(2026, 3, 10, 12, 0))
    slots = expand(rule, start=date(2026, 3, 10), days=1, exceptions=[block, after])
    assert local_times(slots) == ["10:00", "10:30"]


def test_it_removes_whole_vacation_days():
    rule = make_rule(weekdays=EVERY_DAY, start=(9, 0), end=(10, 0), slot=60)
    vacation = Period.whole_days(date(2026, 3, 10), date(2026, 3, 12))
    days = [
        o.start.astimezone(PARIS).date()
        for o in expand(rule, start=date(2026, 3, 9), days=5, exceptions=[vacation])
    ]
    assert days == [date(2026, 3, 9), date(2026, 3, 13)]


def test_it_removes_a_plage_overlapping_an_exception_partly():
    rule = make_rule(start=(14, 0), end=(18, 0), slot=None, capacity=4)
    block = Period(datetime(2026, 3, 10, 16, 59, tzinfo=UTC), datetime(2026, 3, 10, 18, tzinfo=UTC))
    assert expand(rule, start=date(2026, 3, 10), days=1, exceptions=[block]) == []


def test_it_drops_occurrences_starting_before_not_before():
    rule = make_rule(start=(9, 0), end=(10, 0), slot=15)
    now = paris(2026, 3, 10, 9, 20)
    slots = expand(rule, start=date(2026, 3, 10), days=2, not_before=now)
    assert local_times(slots)[:2] == ["09:30", "09:45"]
    assert len(slots) == 2 + 4
    assert expand(rule, start=date(2026, 3, 10), days=1, not_before=paris(2026, 3, 10, 9, 30))[
        0
    ].start == paris(2026, 3, 10, 9, 30)


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        Period(datetime(2026, 3, 10, 9), datetime(2026, 3, 10, 10))
    with pytest.raises(ValueError):
        expand(make_rule(), start=date(2026, 3, 10), days=1, not_before=datetime(2026, 3, 10))


# --- PDSA flag --------------------------------------------------------------------------


def test_it_flags_pdsa_at_the_occurrence_start():
    evening = make_rule(weekdays={1}, start=(19, 0), end=(21, 0), slot=60)
    assert [o.pdsa for o in expand(evening, start=date(2026, 3, 10), days=1)] == [False, True]
    saturday = make_rule(weekdays={5}, start=(10, 0), end=(14, 0), slot=60)
    flags = [o.pdsa for o in expand(saturday, start=date(2026, 3, 14), days=1)]
    assert flags == [False, False, True, True]
    plage = make_rule(weekdays={1}, start=(18, 0), end=(22, 0), slot=None)
    assert [o.pdsa for o in expand(plage, start=date(2026, 3, 10), days=1)] == [False]


def test_it_passes_the_pdsa_options_on():
    saturday = make_rule(weekdays={5}, start=(12, 0), end=(13, 0), slot=60)
    [slot] = expand(saturday, start=date(2026, 3, 14), days=1, pdsa_saturday_afternoon=False)
    assert not slot.pdsa
    bridge = make_rule(weekdays={4}, start=(10, 0), end=(11, 0), slot=60)
    [plain] = expand(bridge, start=date(2026, 5, 15), days=1)
    [with_bridges] = expand(bridge, start=date(2026, 5, 15), days=1, pdsa_bridges=True)
    assert not plain.pdsa and with_bridges.pdsa


# --- daylight saving time -----------------------------------------------------------------


@pytest.mark.parametrize("sunday", DST_SUNDAYS)
def test_it_keeps_wall_clock_times_around_dst_sundays(sunday):
    rule = make_rule(  # Easter Monday 2027 falls the day after the spring DST Sunday
        weekdays=EVERY_DAY, start=(17, 0), end=(19, 0), slot=60, skip_public_holidays=False
    )
    slots = expand(rule, start=sunday - timedelta(days=3), days=7)
    assert local_times(slots) == ["17:00", "18:00"] * 7
    offsets = {o.start.astimezone(PARIS).utcoffset() for o in slots}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}
    before = [o for o in slots if o.start.astimezone(PARIS).date() < sunday]
    after = [o for o in slots if o.start.astimezone(PARIS).date() >= sunday]
    summer_first = sunday.month == 3
    assert before[0].start.hour == (16 if summer_first else 15)
    assert after[0].start.hour == (15 if summer_first else 16)


@pytest.mark.parametrize("sunday", SPRING_FORWARD)
def test_it_skips_the_nonexistent_hour_in_spring(sunday):
    rule = make_rule(weekdays=SUNDAY, start=(0, 0), end=(5, 0), slot=30)
    slots = expand(rule, start=sunday, days=1)
    assert local_times(slots) == [
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "03:00",
        "03:30",
        "04:00",
        "04:30",
    ]
    # 01:30-02:00 ends when the clock jumps to 03:00.
    assert f"{slots[3].end.astimezone(PARIS):%H:%M}" == "03:00"
    assert slots[3].end == slots[4].start
    assert all(o.end - o.start == timedelta(minutes=30) for o in slots)
    assert overlapping(slots) == []


@pytest.mark.parametrize("sunday", SPRING_FORWARD)
def test_it_drops_a_slot_cut_short_by_the_spring_jump(sunday):
    rule = make_rule(weekdays=SUNDAY, start=(1, 15), end=(3, 45), slot=30)
    slots = expand(rule, start=sunday, days=1)
    # 01:45-02:15 would last 15 minutes, 02:15 does not exist.
    assert local_times(slots) == ["01:15", "03:15"]


@pytest.mark.parametrize("sunday", FALL_BACK)
def test_it_uses_the_first_occurrence_of_the_repeated_hour_in_autumn(sunday):
    rule = make_rule(weekdays=SUNDAY, start=(0, 0), end=(5, 0), slot=30)
    slots = expand(rule, start=sunday, days=1)
    # 02:00-02:30 happens twice: the first (summer time) is used; 02:30-03:00
    # would last 90 minutes: dropped.
    assert local_times(slots) == [
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "02:00",
        "03:00",
        "03:30",
        "04:00",
        "04:30",
    ]
    repeated = slots[4]
    assert repeated.start.astimezone(PARIS).utcoffset() == timedelta(hours=2)
    assert repeated.start == datetime(sunday.year, 10, sunday.day, 0, 0, tzinfo=UTC)
    assert all(o.end - o.start == timedelta(minutes=30) for o in slots)
    assert overlapping(slots) == []


@pytest.mark.parametrize("sunday", DST_SUNDAYS)
def test_it_keeps_hourly_slots_whole_on_dst_nights(sunday):
    rule = make_rule(weekdays=SUNDAY, start=(1, 0), end=(4, 0), slot=60)
    slots = expand(rule, start=sunday, days=1)
    assert local_times(slots) == ["01:00", "03:00"]
    assert all(o.end - o.start == timedelta(hours=1) for o in slots)


@pytest.mark.parametrize(
    ("sunday", "real_length"),
    [(d, timedelta(hours=2)) for d in SPRING_FORWARD]
    + [(d, timedelta(hours=4)) for d in FALL_BACK],
)
def test_it_keeps_a_plage_on_its_wall_clock_bounds_on_dst_nights(sunday, real_length):
    rule = make_rule(weekdays=SUNDAY, start=(1, 0), end=(4, 0), slot=None, capacity=3)
    [plage] = expand(rule, start=sunday, days=1)
    assert f"{plage.start.astimezone(PARIS):%H:%M}-{plage.end.astimezone(PARIS):%H:%M}" == (
        "01:00-04:00"
    )
    assert plage.end - plage.start == real_length


@pytest.mark.parametrize("sunday", SPRING_FORWARD)
def test_it_moves_a_nonexistent_plage_bound_to_the_jump(sunday):
    jump = datetime(sunday.year, 3, sunday.day, 1, 0, tzinfo=UTC)  # 03:00 summer time
    late = make_rule(weekdays=SUNDAY, start=(2, 30), end=(5, 0), slot=None)
    [plage] = expand(late, start=sunday, days=1)
    assert plage.start == jump
    early = make_rule(weekdays=SUNDAY, start=(1, 30), end=(2, 30), slot=None)
    [plage] = expand(early, start=sunday, days=1)
    assert plage.end == jump
    assert plage.end - plage.start == timedelta(minutes=30)
    inside = make_rule(weekdays=SUNDAY, start=(2, 15), end=(2, 45), slot=None)
    assert expand(inside, start=sunday, days=1) == []


@pytest.mark.parametrize("sunday", FALL_BACK)
def test_it_uses_fold_0_for_an_ambiguous_plage_start(sunday):
    rule = make_rule(weekdays=SUNDAY, start=(2, 30), end=(4, 0), slot=None)
    [plage] = expand(rule, start=sunday, days=1)
    assert plage.start == datetime(sunday.year, 10, sunday.day, 0, 30, tzinfo=UTC)
    assert plage.end == datetime(sunday.year, 10, sunday.day, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("sunday", "hours"), [(SPRING_FORWARD[0], 23), (FALL_BACK[0], 25)])
def test_it_expands_a_whole_day_plage_over_a_dst_sunday(sunday, hours):
    rule = make_rule(weekdays=SUNDAY, start=(0, 0), end=(0, 0), slot=None)
    [plage] = expand(rule, start=sunday, days=1)
    assert plage.end - plage.start == timedelta(hours=hours)


# --- several rules ---------------------------------------------------------------------------


def test_it_merges_rules_and_drops_a_later_rules_overlapping_occurrences():
    morning = make_rule(weekdays={1}, start=(9, 0), end=(10, 0), slot=30)
    overlapping_plage = make_rule(weekdays={1}, start=(9, 45), end=(11, 0), slot=None)
    afternoon = make_rule(weekdays={1}, start=(14, 0), end=(15, 0), slot=60)
    late_slots = make_rule(weekdays={1}, start=(10, 0), end=(11, 0), slot=20)
    result = expand_many(
        [afternoon, morning, overlapping_plage, late_slots], start=date(2026, 3, 10), days=1
    )
    assert local_times(result) == ["09:00", "09:30", "10:00", "10:20", "10:40", "14:00"]
    assert [o.rule_index for o in result] == [1, 1, 3, 3, 3, 0]
    assert overlapping(result) == []


def test_it_lets_the_rule_order_decide():
    plage = make_rule(weekdays={1}, start=(9, 0), end=(12, 0), slot=None, capacity=5)
    slots = make_rule(weekdays={1}, start=(9, 0), end=(10, 0), slot=30)
    first_plage = expand_many([plage, slots], start=date(2026, 3, 10), days=1)
    first_slots = expand_many([slots, plage], start=date(2026, 3, 10), days=1)
    assert [o.is_plage for o in first_plage] == [True]
    assert [o.is_plage for o in first_slots] == [False, False]


def test_it_blocks_before_arbitrating_between_rules():
    hourly = make_rule(weekdays={1}, start=(9, 0), end=(10, 0), slot=60)
    short = make_rule(weekdays={1}, start=(9, 30), end=(10, 0), slot=30)
    block = Period(paris(2026, 3, 10, 9, 0), paris(2026, 3, 10, 9, 15))
    result = expand_many([hourly, short], start=date(2026, 3, 10), days=1, exceptions=[block])
    assert local_times(result) == ["09:30"]


def test_it_applies_not_before_after_arbitrating_between_rules():
    hourly = make_rule(weekdays={1}, start=(9, 0), end=(10, 0), slot=60)
    short = make_rule(weekdays={1}, start=(9, 30), end=(10, 0), slot=30)
    now = paris(2026, 3, 10, 9, 10)
    # The hourly slot has started: it is gone, but does not free 09:30 for the other rule.
    assert expand_many([hourly, short], start=date(2026, 3, 10), days=1, not_before=now) == []


def test_it_finds_overlapping_pairs():
    def occurrence(start_hour, end_hour):
        return Occurrence(
            datetime(2026, 3, 10, start_hour, tzinfo=UTC),
            datetime(2026, 3, 10, end_hour, tzinfo=UTC),
            1,
            False,
            False,
        )

    a, b, c, d = occurrence(8, 10), occurrence(9, 11), occurrence(10, 12), occurrence(13, 14)
    assert overlapping([c, d, b, a]) == [(a, b), (b, c)]
    assert overlapping([a, d]) == []


# --- validation --------------------------------------------------------------------------


def test_it_accepts_a_sensible_rule():
    assert validate_rule(make_rule()) == []
    assert validate_rule(make_rule(start=(20, 0), end=(0, 0), slot=60)) == []
    assert validate_rule(make_rule(slot=None, capacity=50)) == []
    assert validate_rule(make_rule(start=(9, 0), end=(9, 5), slot=5)) == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            make_rule(start=(14, 0), end=(12, 0)),
            "L'heure de fin (12:00) doit être postérieure à l'heure de début (14:00).",
        ),
        (
            make_rule(start=(14, 0), end=(14, 0), slot=None),
            "L'heure de fin (14:00) doit être postérieure à l'heure de début (14:00).",
        ),
        (
            make_rule(slot=4),
            "La durée d'un créneau doit être comprise entre 5 et 240 minutes (reçu : 4 min).",
        ),
        (
            make_rule(start=(8, 0), end=(20, 0), slot=241),
            "La durée d'un créneau doit être comprise entre 5 et 240 minutes (reçu : 241 min).",
        ),
        (
            make_rule(start=(9, 0), end=(9, 30), slot=45),
            "La durée d'un créneau (45 min) dépasse celle de la plage horaire (30 min).",
        ),
        (make_rule(weekdays=frozenset()), "Choisissez au moins un jour de la semaine."),
        (
            make_rule(weekdays={0, 7}),
            "Jour de la semaine invalide : 7 (0 = lundi … 6 = dimanche).",
        ),
        (
            make_rule(slot=None, capacity=0),
            "La capacité doit être comprise entre 1 et 50 patients (reçu : 0).",
        ),
        (
            make_rule(slot=None, capacity=51),
            "La capacité doit être comprise entre 1 et 50 patients (reçu : 51).",
        ),
        (
            make_rule(valid_from=date(2026, 3, 2), valid_until=date(2026, 3, 1)),
            "La fin de validité (01/03/2026) précède le début de validité (02/03/2026).",
        ),
        (
            WeeklyRule(WEEKDAYS, time(8, tzinfo=UTC), time(12, tzinfo=UTC), 15),
            "Les heures de début et de fin sont des heures locales, sans fuseau horaire.",
        ),
    ],
)
def test_it_explains_what_is_wrong_with_a_rule(rule, message):
    assert validate_rule(rule) == [message]


def test_it_lists_every_problem_at_once():
    rule = make_rule(weekdays=frozenset(), start=(14, 0), end=(12, 0), slot=2, capacity=0)
    assert len(validate_rule(rule)) == 4


def test_it_refuses_to_expand_an_invalid_rule():
    with pytest.raises(InvalidRule) as error:
        expand(make_rule(slot=0), start=date(2026, 3, 10), days=1)
    assert error.value.errors == [
        "La durée d'un créneau doit être comprise entre 5 et 240 minutes (reçu : 0 min)."
    ]
    with pytest.raises(InvalidRule, match="Règle n° 2 : La capacité") as error:
        expand_many([make_rule(), make_rule(capacity=0)], start=date(2026, 3, 10), days=1)
    assert error.value.rule_index == 1
    assert error.value.errors == [
        "La capacité doit être comprise entre 1 et 50 patients (reçu : 0)."
    ]


# --- speed -------------------------------------------------------------------------------


def random_rules(count: int, seed: int = 1) -> list[WeeklyRule]:
    rng = random.Random(seed)
    rules = []
    for _ in range(count):
        hour = rng.randint(7, 17)
        rules.append(
            WeeklyRule(
                frozenset(rng.sample(range(7), rng.randint(1, 6))),
                time(hour),
                time(hour + rng.choice([2, 3, 4])),
                rng.choice([10, 15, 20, 30, None]),
            )
        )
    return rules


# --- properties --------------------------------------------------------------------------


@st.composite
def rules(draw) -> WeeklyRule:
    start_minute = draw(st.integers(0, 24 * 60 - 5))
    end_minute = draw(st.integers(start_minute + 5, 24 * 60))
    length = end_minute - start_minute
    slot = draw(st.none() | st.integers(5, min(240, length)) | st.sampled_from([15, 30, 60]))
    if slot is not None and slot > length:
        slot = None
    valid_from = draw(st.none() | st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    valid_until = draw(st.none() | st.dates(valid_from or date(2026, 1, 1), date(2028, 1, 31)))
    return WeeklyRule(
        weekdays=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start_time=time(*divmod(start_minute, 60)),
        end_time=time(0) if end_minute == 24 * 60 else time(*divmod(end_minute, 60)),
        slot_minutes=slot,
        capacity=draw(st.integers(1, 50)),
        valid_from=valid_from,
        valid_until=valid_until,
        skip_public_holidays=draw(st.booleans()),
    )


first_days = st.one_of(
    st.builds(
        lambda sunday, back: sunday - timedelta(days=back),
        st.sampled_from(DST_SUNDAYS),
        st.integers(0, 6),
    ),
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),
)


@st.composite
def exception_lists(draw, first_day: date, days: int) -> list[Period]:
    origin = datetime.combine(first_day, time(0), tzinfo=UTC) - timedelta(hours=3)
    periods = []
    for _ in range(draw(st.integers(0, 4))):
        offset = draw(st.integers(0, (days + 1) * 24 * 60))
        length = draw(st.integers(1, 3 * 24 * 60))
        begin = origin + timedelta(minutes=offset)
        periods.append(Period(begin, begin + timedelta(minutes=length)))
    return periods


def overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


def assert_sane(rule: WeeklyRule, occurrences: list[Occurrence], first_day: date, days: int):
    assert overlapping(occurrences) == []
    assert occurrences == sorted(occurrences, key=lambda o: o.start)
    start_minute = rule.start_time.hour * 60 + rule.start_time.minute
    for o in occurrences:
        assert o.start.tzinfo is UTC and o.end.tzinfo is UTC
        assert o.end > o.start
        assert o.is_plage is (rule.slot_minutes is None)
        assert o.capacity == rule.capacity
        if rule.slot_minutes is not None:
            assert o.end - o.start == timedelta(minutes=rule.slot_minutes)
        first = o.start.astimezone(PARIS)
        last = (o.end - EPSILON).astimezone(PARIS)
        day = first.date()
        # On the rule's days, inside its validity, never on a skipped holiday.
        assert first_day <= day < first_day + timedelta(days=days)
        assert day.weekday() in rule.weekdays
        assert rule.valid_from is None or day >= rule.valid_from
        assert rule.valid_until is None or day <= rule.valid_until
        assert not (rule.skip_public_holidays and is_public_holiday(day))
        # Inside the wall-clock window, from its first to its last instant.
        assert first.time() >= rule.start_time
        assert last.date() == day
        if rule.end_time != time(0):
            assert last.time() < rule.end_time
        if rule.slot_minutes is not None:
            # On the rule's wall-clock grid.
            assert (first.hour * 60 + first.minute - start_minute) % rule.slot_minutes == 0


@settings(max_examples=300, deadline=None)
@given(rule=rules(), first_day=first_days, days=st.integers(1, 14))
def test_it_never_creates_bad_slots(rule, first_day, days):
    occurrences = expand(rule, start=first_day, days=days)
    assert_sane(rule, occurrences, first_day, days)
    if rule.slot_minutes is None:
        return
    # Outside the DST Sundays every eligible day gets the full wall-clock grid.
    start_minute = rule.start_time.hour * 60 + rule.start_time.minute
    end_minute = rule.end_time.hour * 60 + rule.end_time.minute or 24 * 60
    per_day = (end_minute - start_minute) // rule.slot_minutes
    counts: dict[date, int] = {}
    for o in occurrences:
        day = o.start.astimezone(PARIS).date()
        counts[day] = counts.get(day, 0) + 1
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        eligible = (
            day.weekday() in rule.weekdays
            and (rule.valid_from is None or day >= rule.valid_from)
            and (rule.valid_until is None or day <= rule.valid_until)
            and not (rule.skip_public_holidays and is_public_holiday(day))
        )
        if not eligible:
            assert day not in counts
        elif is_dst_day(day):
            assert counts.get(day, 0) <= per_day
        else:
            assert counts[day] == per_day


@settings(max_examples=200, deadline=None)
@given(rule=rules(), first_day=first_days, days=st.integers(1, 10), data=st.data())
def test_it_never_puts_a_slot_in_an_exception(rule, first_day, days, data):
    exceptions = data.draw(exception_lists(first_day, days))
    everything = expand(rule, start=first_day, days=days)
    kept = expand(rule, start=first_day, days=days, exceptions=exceptions)
    assert_sane(rule, kept, first_day, days)
    # Exactly the occurrences touching no exception survive.
    assert kept == [
        o
        for o in everything
        if not any(overlaps(o.start, o.end, p.start, p.end) for p in exceptions)
    ]


@settings(max_examples=200, deadline=None)
@given(rule=rules(), first_day=first_days, days=st.integers(1, 10), minutes=st.integers(0, 15000))
def test_it_never_returns_a_slot_before_not_before(rule, first_day, days, minutes):
    now = datetime.combine(first_day, time(0), tzinfo=PARIS) + timedelta(minutes=minutes)
    everything = expand(rule, start=first_day, days=days)
    assert expand(rule, start=first_day, days=days, not_before=now) == [
        o for o in everything if o.start >= now
    ]


@settings(max_examples=200, deadline=None)
@given(
    several=st.lists(rules(), min_size=2, max_size=6),
    first_day=first_days,
    days=st.integers(1, 10),
    data=st.data(),
)
def test_it_never_overlaps_when_merging_rules(several, first_day, days, data):
    exceptions = data.draw(exception_lists(first_day, days))
    merged = expand_many(several, start=first_day, days=days, exceptions=exceptions)
    assert overlapping(merged) == []
    assert merged == sorted(merged, key=lambda o: (o.start, o.end))
    by_rule = [expand(rule, start=first_day, days=days, exceptions=exceptions) for rule in several]
    for index, rule in enumerate(several):
        own = [o for o in merged if o.rule_index == index]
        assert_sane(rule, own, first_day, days)
        expected = {(o.start, o.end, o.capacity, o.is_plage, o.pdsa) for o in by_rule[index]}
        assert {(o.start, o.end, o.capacity, o.is_plage, o.pdsa) for o in own} <= expected
        # An occurrence is only dropped for overlapping one kept from an earlier rule.
        kept = {(o.start, o.end) for o in own}
        for o in by_rule[index]:
            if (o.start, o.end) not in kept:
                assert any(
                    k.rule_index < index and overlaps(o.start, o.end, k.start, k.end)
                    for k in merged
                )
