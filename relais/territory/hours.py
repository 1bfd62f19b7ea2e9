"""French service-hour periods: SAS (daytime regulation) and PDSA (out-of-hours care).

Django-free. Every function takes aware datetimes in any time zone and reasons
in Europe/Paris wall-clock time, with metropolitan French public holidays
(Alsace-Moselle and overseas départements have other holidays: not handled).

- SAS regulates 8h-20h Monday to Friday and 8h-12h on Saturday, never on a
  public holiday.
- PDSA (permanence des soins ambulatoires) covers 20h-8h every night, Sundays
  and public holidays 8h-20h, Saturday from 12h (on by default, as in most
  départements) and, optionally, "ponts": a Monday before a Tuesday holiday or
  a Friday after a Thursday holiday, 8h-20h.

Every boundary falls on a full hour, so the answer only depends on the local
date and hour; it is cached on that pair.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

PARIS = ZoneInfo("Europe/Paris")

DAY_START_HOUR = 8
DAY_END_HOUR = 20
SATURDAY_NOON = 12

MONDAY, TUESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = 0, 1, 3, 4, 5, 6

Period = Literal["sas", "pdsa"]


@lru_cache(maxsize=64)
def _holidays_of_year(year: int) -> frozenset[date]:
    return frozenset(holidays.France(years=year).keys())


def is_public_holiday(d: date) -> bool:
    """True for a metropolitan French public holiday (jour férié).

    An aware datetime is reduced to its Paris date; a naive one is refused.
    """
    if isinstance(d, datetime):
        d = _paris(d).date()
    return d in _holidays_of_year(d.year)


def is_bridge_day(d: date) -> bool:
    """A "pont": a Monday before a Tuesday holiday or a Friday after a Thursday one."""
    if isinstance(d, datetime):
        d = _paris(d).date()
    weekday = d.weekday()
    if weekday == MONDAY:
        return is_public_holiday(d + timedelta(days=1))
    if weekday == FRIDAY:
        return is_public_holiday(d - timedelta(days=1))
    return False


def is_pdsa(
    dt: datetime, *, saturday_afternoon: bool = True, include_bridges: bool = False
) -> bool:
    """True when `dt` falls in the PDSA (out-of-hours) period."""
    local = _paris(dt)
    return is_pdsa_wall(
        local.date(),
        local.hour,
        saturday_afternoon=saturday_afternoon,
        include_bridges=include_bridges,
    )


def is_sas_hours(dt: datetime, *, include_bridges: bool = False) -> bool:
    """True when the SAS regulates: 8h-20h Mon-Fri, 8h-12h Sat, not on public holidays.

    With `include_bridges=True` a bridge day is left to the PDSA, so that
    `is_sas_hours` and `is_pdsa` called with the same flag never both answer True.
    """
    local = _paris(dt)
    return _is_sas_wall(local.date(), local.hour, include_bridges)


def period_of(
    dt: datetime, *, saturday_afternoon: bool = True, include_bridges: bool = False
) -> Period:
    """Return "pdsa" during PDSA hours, otherwise "sas" (the daytime track).

    With the default flags the two periods tile the whole week. With
    `saturday_afternoon=False` Saturday 12h-20h belongs to neither; it is
    reported as "sas" (calls are handled on the daytime track) although
    `is_sas_hours` answers False there.
    """
    if is_pdsa(dt, saturday_afternoon=saturday_afternoon, include_bridges=include_bridges):
        return "pdsa"
    return "sas"


def is_pdsa_wall(
    d: date, hour: int, *, saturday_afternoon: bool = True, include_bridges: bool = False
) -> bool:
    """`is_pdsa` for a Paris wall-clock date and hour (0-23), without any conversion.

    Used by the recurrence expansion, which already knows the local time of
    each slot (and would otherwise convert back and forth for every slot).
    """
    return _is_pdsa_wall(d, hour, saturday_afternoon, include_bridges)


@lru_cache(maxsize=65536)
def _is_pdsa_wall(d: date, hour: int, saturday_afternoon: bool, include_bridges: bool) -> bool:
    if hour < DAY_START_HOUR or hour >= DAY_END_HOUR:
        return True
    weekday = d.weekday()
    if weekday == SUNDAY or is_public_holiday(d):
        return True
    if saturday_afternoon and weekday == SATURDAY and hour >= SATURDAY_NOON:
        return True
    return include_bridges and is_bridge_day(d)


def _is_sas_wall(d: date, hour: int, include_bridges: bool) -> bool:
    if hour < DAY_START_HOUR:
        return False
    weekday = d.weekday()
    if weekday == SUNDAY or is_public_holiday(d):
        return False
    if weekday == SATURDAY:
        return hour < SATURDAY_NOON
    if include_bridges and is_bridge_day(d):
        return False
    return hour < DAY_END_HOUR


def _paris(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC or Europe/Paris)")
    return dt.astimezone(PARIS)
