from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relais.territory.hours import (
    is_bridge_day,
    is_pdsa,
    is_public_holiday,
    is_sas_hours,
    period_of,
)

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


# --- public holidays ---------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 1),
        date(2026, 5, 8),
        date(2026, 5, 14),  # Ascension
        date(2026, 5, 25),  # Whit Monday
        date(2026, 7, 14),
        date(2026, 8, 15),
        date(2026, 11, 1),
        date(2026, 11, 11),
        date(2026, 12, 25),
        date(2027, 3, 29),  # Easter Monday 2027
    ],
)
def test_it_knows_french_public_holidays(day):
    assert is_public_holiday(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 4, 3),  # Good Friday: Alsace-Moselle only
        date(2026, 12, 26),  # St Stephen: Alsace-Moselle only
        date(2026, 4, 7),
        date(2026, 7, 13),
    ],
)
def test_it_ignores_ordinary_and_regional_days(day):
    assert not is_public_holiday(day)


def test_it_reads_an_aware_datetime_in_paris_time():
    # 22:30 UTC on 13 July is already 14 July in Paris.
    assert is_public_holiday(datetime(2026, 7, 13, 22, 30, tzinfo=UTC))
    assert not is_public_holiday(datetime(2026, 7, 13, 21, 30, tzinfo=UTC))


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        is_pdsa(datetime(2026, 3, 10, 21, 0))
    with pytest.raises(ValueError):
        is_sas_hours(datetime(2026, 3, 10, 10, 0))


# --- weekday boundaries --------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "pdsa"),
    [
        (paris(2026, 3, 10, 7, 59), True),
        (paris(2026, 3, 10, 8, 0), False),
        (paris(2026, 3, 10, 19, 59), False),
        (paris(2026, 3, 10, 20, 0), True),
        (paris(2026, 3, 10, 23, 59), True),
        (paris(2026, 3, 11, 0, 0), True),
    ],
)
def test_it_splits_a_weekday_at_8h_and_20h(moment, pdsa):
    assert is_pdsa(moment) is pdsa
    assert is_sas_hours(moment) is not pdsa
    assert period_of(moment) == ("pdsa" if pdsa else "sas")


def test_it_works_from_any_time_zone_across_seasons():
    # 20:00 Paris is 19:00Z in winter and 18:00Z in summer.
    assert is_pdsa(datetime(2026, 1, 6, 19, 0, tzinfo=UTC))
    assert not is_pdsa(datetime(2026, 1, 6, 18, 59, tzinfo=UTC))
    assert is_pdsa(datetime(2026, 7, 7, 18, 0, tzinfo=UTC))
    assert not is_pdsa(datetime(2026, 7, 7, 17, 59, tzinfo=UTC))
    new_york = ZoneInfo("America/New_York")
    assert is_pdsa(datetime(2026, 7, 7, 14, 0, tzinfo=new_york))  # 20:00 Paris


# --- Saturday, Sunday, holidays --------------------------------------------------


def test_it_hands_saturday_afternoon_to_the_pdsa_at_noon():
    assert is_sas_hours(paris(2026, 3, 14, 11, 59))
    assert not is_pdsa(paris(2026, 3, 14, 11, 59))
    assert is_pdsa(paris(2026, 3, 14, 12, 0))
    assert not is_sas_hours(paris(2026, 3, 14, 12, 0))
    assert period_of(paris(2026, 3, 14, 12, 0)) == "pdsa"
    assert not is_sas_hours(paris(2026, 3, 14, 7, 59))
    assert is_pdsa(paris(2026, 3, 14, 7, 59))


def test_it_can_leave_saturday_afternoon_out_of_the_pdsa():
    moment = paris(2026, 3, 14, 15, 0)
    assert not is_pdsa(moment, saturday_afternoon=False)
    assert not is_sas_hours(moment)
    # Neither period: reported on the daytime track.
    assert period_of(moment, saturday_afternoon=False) == "sas"
    assert is_pdsa(paris(2026, 3, 14, 20, 0), saturday_afternoon=False)


@pytest.mark.parametrize("hour", [0, 8, 12, 19, 20, 23])
def test_it_makes_the_whole_sunday_pdsa(hour):
    moment = paris(2026, 3, 15, hour, 0)
    assert is_pdsa(moment)
    assert not is_sas_hours(moment)


@pytest.mark.parametrize(
    "day", [date(2026, 5, 1), date(2026, 7, 14), date(2026, 4, 6), date(2026, 5, 14)]
)
def test_it_makes_public_holidays_pdsa_in_the_daytime(day):
    moment = datetime(day.year, day.month, day.day, 10, 0, tzinfo=PARIS)
    assert is_pdsa(moment)
    assert not is_sas_hours(moment)
    assert period_of(moment) == "pdsa"


def test_it_treats_a_saturday_holiday_morning_as_pdsa():
    # 15 August 2026 is a Saturday.
    assert is_pdsa(paris(2026, 8, 15, 9, 0))
    assert not is_sas_hours(paris(2026, 8, 15, 9, 0))


def test_it_handles_the_dst_sundays():
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        for hour in range(24):
            moment = datetime(day.year, day.month, day.day, hour, tzinfo=PARIS)
            assert is_pdsa(moment)


# --- bridges ---------------------------------------------------------------------


def test_it_recognises_bridge_days():
    assert is_bridge_day(date(2026, 5, 15))  # Friday after Ascension Thursday
    assert is_bridge_day(date(2025, 11, 10))  # Monday before Tuesday 11 November
    assert is_bridge_day(date(2027, 11, 12))  # Friday after Thursday 11 November
    assert is_bridge_day(date(2026, 7, 13))  # Monday before Tuesday 14 July
    assert is_bridge_day(date(2028, 8, 14))  # Monday before Tuesday 15 August
    assert not is_bridge_day(date(2026, 5, 22))  # ordinary Friday
    assert not is_bridge_day(date(2026, 11, 10))  # Tuesday before Wednesday 11 November
    assert not is_bridge_day(date(2026, 5, 16))  # Saturday after the Ascension bridge


def test_it_leaves_bridges_to_the_sas_unless_asked():
    moment = paris(2026, 5, 15, 10, 0)
    assert not is_pdsa(moment)
    assert is_sas_hours(moment)
    assert is_pdsa(moment, include_bridges=True)
    assert not is_sas_hours(moment, include_bridges=True)
    assert period_of(moment, include_bridges=True) == "pdsa"
    assert is_pdsa(paris(2025, 11, 10, 8, 0), include_bridges=True)
    assert not is_pdsa(paris(2025, 11, 10, 8, 0))
    assert is_pdsa(paris(2025, 11, 10, 7, 59))
    assert not is_pdsa(paris(2026, 5, 22, 10, 0), include_bridges=True)


# --- properties ----------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2029, 12, 31),
    timezones=st.sampled_from([UTC, PARIS]),
)


@settings(max_examples=500, deadline=None)
@given(moment=moments, bridges=st.booleans())
def test_it_tiles_the_week_into_sas_or_pdsa(moment, bridges):
    pdsa = is_pdsa(moment, include_bridges=bridges)
    sas = is_sas_hours(moment, include_bridges=bridges)
    assert pdsa != sas
    assert period_of(moment, include_bridges=bridges) == ("pdsa" if pdsa else "sas")


@settings(max_examples=300, deadline=None)
@given(moment=moments)
def test_it_only_ever_adds_pdsa_hours_with_the_options(moment):
    plain = is_pdsa(moment, saturday_afternoon=False)
    assert not plain or is_pdsa(moment)
    assert not is_pdsa(moment) or is_pdsa(moment, include_bridges=True)
