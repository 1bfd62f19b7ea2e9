"""Django-free: is a CPTS line / web form open now, and when does it open next?

`hours` is the CPTS's JSON: {"1": [["08:00", "18:00"]], "6": [["08:00", "11:00"]]}
keyed by ISO weekday (1 = Monday), plus "closed": ["YYYY-MM-DD", …], the days the CPTS
closes its line and form (bridges, holidays of the team). Closed on French public holidays.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from relais.territory.hours import is_public_holiday

PARIS = ZoneInfo("Europe/Paris")


def _ranges(hours: dict, day) -> list[tuple[time, time]]:
    if is_public_holiday(day) or day.isoformat() in hours.get("closed", ()):
        return []
    return [
        (time.fromisoformat(start), time.fromisoformat(end))
        for start, end in hours.get(str(day.isoweekday()), [])
    ]


def is_open(hours: dict, now: datetime) -> bool:
    local = now.astimezone(PARIS)
    return any(start <= local.time() < end for start, end in _ranges(hours, local.date()))


def next_opening(hours: dict, now: datetime) -> datetime | None:
    """The next opening time after `now` within two weeks, or None (never open)."""
    local = now.astimezone(PARIS)
    for offset in range(15):
        day = local.date() + timedelta(days=offset)
        for start, _ in sorted(_ranges(hours, day)):
            at = datetime.combine(day, start, tzinfo=PARIS)
            if at > local:
                return at
    return None
