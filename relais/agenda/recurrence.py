"""Expansion of weekly availability rules into concrete, aware (UTC) occurrences.

Django-free: the stdlib, `holidays` (through `hours`) and nothing else.

A `WeeklyRule` says "on these weekdays, from start_time to end_time, wall-clock
Europe/Paris": either exact slots of `slot_minutes`, or one "plage" (a range
taking at most `capacity` patients). `expand` turns it into `Occurrence`s over
a window of local dates; `expand_many` does it for several rules of one agenda
and never returns two overlapping occurrences.

Daylight saving time (the point of this module: recurring availability is
where booking tools get DST wrong):

- Wall-clock times are kept: a 17:00-19:00 rule gives 16:00Z-18:00Z in winter
  and 15:00Z-17:00Z in summer.
- A slot is the wall-clock interval [t, t + slot_minutes) on the rule's grid.
  It is kept only when its start exists and it lasts exactly slot_minutes of
  real time. On the spring-forward night (last Sunday of March, 02:00 -> 03:00)
  a slot starting in the skipped hour is dropped, and so is one that would end
  in it after starting before it (01:45-02:15 lasts 15 minutes); 01:30-02:00
  is kept and ends at the jump (03:00 summer time). On the fall-back night
  (last Sunday of October, 03:00 -> 02:00) an ambiguous wall time means its
  first occurrence (fold=0, summer time), so the second, winter-time pass
  of 02:00-03:00 gets no slot, and a slot straddling the change is dropped
  (02:30-03:00 lasts 90 minutes that night). Every slot therefore has the
  rule's exact length, starts on a wall-clock time the professional chose,
  and never overlaps another one.
- A plage keeps its wall-clock bounds (fold=0 when ambiguous); a bound that
  does not exist is moved to the instant the clock jumps (a 01:30-02:30 plage
  on the spring-forward night ends at 03:00 summer time), and a plage left
  empty is dropped. Its real length may differ from its wall-clock length.

Other rules:

- `end_time == time(0)` means midnight at the end of the day (24:00), so that
  evening PDSA rules such as 20:00-24:00 can be written; otherwise
  start_time < end_time on the same day (no rule crosses midnight: split it).
- A last partial slot that would cross the rule end is dropped.
- `valid_from` and `valid_until` are inclusive local dates.
- Public holidays are metropolitan French ones (`hours.is_public_holiday`).
- Exceptions (vacations, one-off blocks) remove every occurrence overlapping
  them (half-open intervals: touching is not overlapping).
- `not_before` removes occurrences starting before it (a plage already under
  way included).
- `pdsa` is `hours.is_pdsa` at the occurrence start; a plage running from
  18:00 to 22:00 is flagged from its start only.
- Invalid rules (see `validate_rule`) raise `InvalidRule` instead of
  silently producing nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from relais.territory import hours

MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 240
MIN_CAPACITY = 1
MAX_CAPACITY = 50

MIDNIGHT = time(0)
ONE_DAY = timedelta(days=1)
ONE_SECOND = timedelta(seconds=1)
ONE_MICROSECOND = timedelta(microseconds=1)
PARIS_KEY = "Europe/Paris"


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    weekdays: frozenset[int]  # 0 = Monday ... 6 = Sunday
    start_time: time  # wall clock in the agenda's zone (Europe/Paris)
    end_time: time  # start_time < end_time on the same day; time(0) means 24:00
    slot_minutes: int | None  # exact slots of this length, or None for a plage
    capacity: int = 1  # plage: patients in the whole range; slot: patients per slot
    valid_from: date | None = None  # inclusive
    valid_until: date | None = None  # inclusive
    skip_public_holidays: bool = True

    def __post_init__(self) -> None:
        # Accept any iterable of weekdays but keep the rule hashable.
        if not isinstance(self.weekdays, frozenset):
            object.__setattr__(self, "weekdays", frozenset(self.weekdays))


@dataclass(frozen=True, slots=True)
class Period:
    """An aware half-open interval [start, end), e.g. a vacation or a one-off block.

    A period with end <= start is empty and blocks nothing.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError("Period needs aware datetimes")

    @classmethod
    def whole_days(cls, first: date, last: date, tz: str | tzinfo = PARIS_KEY) -> Period:
        """From local midnight of `first` to local midnight after `last` (inclusive dates)."""
        zone = _zone(tz)
        return cls(
            datetime.combine(first, MIDNIGHT, tzinfo=zone),
            datetime.combine(last + ONE_DAY, MIDNIGHT, tzinfo=zone),
        )


@dataclass(frozen=True, slots=True)
class Occurrence:
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC; half-open
    capacity: int
    is_plage: bool
    pdsa: bool
    # Position of the producing rule in the list given to `expand_many` (0 for
    # `expand`), so that callers can map an occurrence back to its place,
    # modality, etc.
    rule_index: int = 0


class InvalidRule(ValueError):
    """A rule `validate_rule` refuses; `errors` holds its French messages."""

    def __init__(self, errors: list[str], rule_index: int | None = None) -> None:
        prefix = f"Règle n° {rule_index + 1} : " if rule_index is not None else ""
        super().__init__(prefix + " ".join(errors))
        self.errors = errors
        self.rule_index = rule_index


def validate_rule(rule: WeeklyRule) -> list[str]:
    """French messages for the professional; an empty list when the rule is usable."""
    errors: list[str] = []

    if not rule.weekdays:
        errors.append("Choisissez au moins un jour de la semaine.")
    bad_days = sorted((d for d in rule.weekdays if not _is_weekday(d)), key=str)
    if bad_days:
        errors.append(
            "Jour de la semaine invalide : "
            + ", ".join(str(d) for d in bad_days)
            + " (0 = lundi … 6 = dimanche)."
        )

    if rule.start_time.tzinfo is not None or rule.end_time.tzinfo is not None:
        errors.append("Les heures de début et de fin sont des heures locales, sans fuseau horaire.")
    range_length = _wall_length(rule)
    if range_length <= timedelta(0):
        errors.append(
            f"L'heure de fin ({rule.end_time:%H:%M}) doit être postérieure "
            f"à l'heure de début ({rule.start_time:%H:%M})."
        )

    minutes = rule.slot_minutes
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            errors.append("La durée d'un créneau doit être un nombre entier de minutes.")
        elif not MIN_SLOT_MINUTES <= minutes <= MAX_SLOT_MINUTES:
            errors.append(
                f"La durée d'un créneau doit être comprise entre {MIN_SLOT_MINUTES} "
                f"et {MAX_SLOT_MINUTES} minutes (reçu : {minutes} min)."
            )
        elif range_length > timedelta(0) and timedelta(minutes=minutes) > range_length:
            errors.append(
                f"La durée d'un créneau ({minutes} min) dépasse celle de la plage horaire "
                f"({_format_minutes(range_length)})."
            )

    capacity = rule.capacity
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        errors.append("La capacité doit être un nombre entier de patients.")
    elif not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        errors.append(
            f"La capacité doit être comprise entre {MIN_CAPACITY} et {MAX_CAPACITY} "
            f"patients (reçu : {capacity})."
        )

    if (
        rule.valid_from is not None
        and rule.valid_until is not None
        and rule.valid_until < rule.valid_from
    ):
        errors.append(
            f"La fin de validité ({rule.valid_until:%d/%m/%Y}) précède "
            f"le début de validité ({rule.valid_from:%d/%m/%Y})."
        )
    return errors


def expand(
    rule: WeeklyRule,
    *,
    start: date,
    days: int,
    exceptions: Iterable[Period] = (),
    tz: str | tzinfo = PARIS_KEY,
    not_before: datetime | None = None,
    pdsa_saturday_afternoon: bool = True,
    pdsa_bridges: bool = False,
) -> list[Occurrence]:
    """Occurrences of `rule` on the local dates [start, start + days), sorted by start."""
    return expand_many(
        [rule],
        start=start,
        days=days,
        exceptions=exceptions,
        tz=tz,
        not_before=not_before,
        pdsa_saturday_afternoon=pdsa_saturday_afternoon,
        pdsa_bridges=pdsa_bridges,
    )


def expand_many(
    rules: Iterable[WeeklyRule],
    *,
    start: date,
    days: int,
    exceptions: Iterable[Period] = (),
    tz: str | tzinfo = PARIS_KEY,
    not_before: datetime | None = None,
    pdsa_saturday_afternoon: bool = True,
    pdsa_bridges: bool = False,
) -> list[Occurrence]:
    """Occurrences of several rules of one agenda, sorted by start, never overlapping.

    Rules are taken in the given order and an occurrence overlapping one kept
    from an earlier rule (or earlier in the same rule) is dropped: list the
    rules by priority, e.g. the most specific first. Exceptions are applied
    before that arbitration (a blocked slot of an earlier rule does not hide a
    later rule's free one), `not_before` after it (so moving `not_before`
    forward only removes occurrences, as when slots are materialised).
    """
    rules = list(rules)
    for index, rule in enumerate(rules):
        errors = validate_rule(rule)
        if errors:
            raise InvalidRule(errors, index if len(rules) > 1 else None)
    if days < 0:
        raise ValueError("days must be >= 0")
    zone = _zone(tz)
    blocked = _Blocked(exceptions)
    floor = _as_utc(not_before) if not_before is not None else None
    pdsa = _pdsa_function(zone, pdsa_saturday_afternoon, pdsa_bridges)

    # One rule never yields overlapping occurrences: arbitration is only
    # needed between rules.
    kept = _Agenda() if len(rules) > 1 else None
    result: list[Occurrence] = []
    for index, rule in enumerate(rules):
        for occurrence in _expand_rule(rule, index, start, days, zone, pdsa):
            if blocked.overlaps(occurrence.start, occurrence.end):
                continue
            if kept is not None and not kept.add(occurrence.start, occurrence.end):
                continue
            # After the arbitration: a later `not_before` only ever removes
            # occurrences, it never lets a later rule's slot replace a past one.
            if floor is None or occurrence.start >= floor:
                result.append(occurrence)
    if len(rules) > 1:
        result.sort(key=lambda o: (o.start, o.end))
    return result


def overlapping(occurrences: Iterable[Occurrence]) -> list[tuple[Occurrence, Occurrence]]:
    """Every pair of overlapping occurrences (half-open), each as (earlier, later)."""
    ordered = sorted(occurrences, key=lambda o: (o.start, o.end))
    pairs: list[tuple[Occurrence, Occurrence]] = []
    active: list[Occurrence] = []
    for current in ordered:
        active = [o for o in active if o.end > current.start]
        if current.end > current.start:
            pairs.extend((o, current) for o in active)
            active.append(current)
    return pairs


# --- expansion ---------------------------------------------------------------

PdsaFunction = Callable[[datetime, datetime], bool]  # (local wall time, UTC instant)


def _expand_rule(
    rule: WeeklyRule, index: int, start: date, days: int, zone: tzinfo, pdsa: PdsaFunction
) -> Iterator[Occurrence]:
    first = start if rule.valid_from is None else max(start, rule.valid_from)
    last = start + timedelta(days=days - 1)
    if rule.valid_until is not None:
        last = min(last, rule.valid_until)
    step = timedelta(minutes=rule.slot_minutes) if rule.slot_minutes is not None else None

    day = first
    while day <= last:
        if day.weekday() in rule.weekdays and not (
            rule.skip_public_holidays and hours.is_public_holiday(day)
        ):
            wall_start = datetime.combine(day, rule.start_time)
            if rule.end_time == MIDNIGHT:
                wall_end = datetime.combine(day + ONE_DAY, MIDNIGHT)
            else:
                wall_end = datetime.combine(day, rule.end_time)
            if step is None:
                yield from _plage(rule, index, wall_start, wall_end, zone, pdsa)
            else:
                yield from _slots(rule, index, step, wall_start, wall_end, zone, pdsa)
        day += ONE_DAY


def _slots(
    rule: WeeklyRule,
    index: int,
    step: timedelta,
    wall_start: datetime,
    wall_end: datetime,
    zone: tzinfo,
    pdsa: PdsaFunction,
) -> Iterator[Occurrence]:
    count = (wall_end - wall_start) // step
    offset = _constant_offset(wall_start, wall_end, zone)
    if offset is not None:
        # Fast path (every day but the two DST nights): one UTC offset for the
        # whole window, so slots are plain arithmetic.
        utc = (wall_start - offset).replace(tzinfo=UTC)
        wall = wall_start
        for _ in range(count):
            yield Occurrence(utc, utc + step, rule.capacity, False, pdsa(wall, utc), index)
            utc += step
            wall += step
        return

    for i in range(count):
        wall = wall_start + i * step
        utc_start = _wall_to_utc(wall, zone)
        if utc_start is None:
            continue  # starts in the skipped hour
        # A slot may end exactly when the clock jumps (01:30-02:00 ends at 03:00).
        utc_end = _wall_to_utc(wall + step, zone) or _gap_end(wall + step, zone)
        if utc_end - utc_start != step:
            continue  # straddles the change: real length differs from slot length
        yield Occurrence(utc_start, utc_end, rule.capacity, False, pdsa(wall, utc_start), index)


def _plage(
    rule: WeeklyRule,
    index: int,
    wall_start: datetime,
    wall_end: datetime,
    zone: tzinfo,
    pdsa: PdsaFunction,
) -> Iterator[Occurrence]:
    utc_start = _wall_to_utc(wall_start, zone) or _gap_end(wall_start, zone)
    utc_end = _wall_to_utc(wall_end, zone) or _gap_end(wall_end, zone)
    if utc_end <= utc_start:
        return
    local_start = utc_start.astimezone(zone).replace(tzinfo=None)
    yield Occurrence(utc_start, utc_end, rule.capacity, True, pdsa(local_start, utc_start), index)


def _constant_offset(wall_start: datetime, wall_end: datetime, zone: tzinfo) -> timedelta | None:
    """The UTC offset of the window when it holds no DST transition, else None.

    Assumes a zone never changes offset twice within one day (true of every
    real zone, and of Europe/Paris in particular).
    """
    offset = zone.utcoffset(wall_start)
    if (
        offset is None
        or zone.utcoffset(wall_start.replace(fold=1)) != offset
        or zone.utcoffset(wall_end) != offset
        or zone.utcoffset(wall_end.replace(fold=1)) != offset
    ):
        return None
    return offset


def _wall_to_utc(wall: datetime, zone: tzinfo) -> datetime | None:
    """UTC instant of a naive wall time; fold=0 when ambiguous; None when it does not exist."""
    before = zone.utcoffset(wall)
    after = zone.utcoffset(wall.replace(fold=1))
    if before is None or after is None:
        raise ValueError(f"time zone {zone!r} gives no UTC offset")
    if before < after:
        return None  # in the spring-forward gap (PEP 495: fold=0 < fold=1 offset)
    return (wall - before).replace(tzinfo=UTC, fold=0)


def _gap_end(wall: datetime, zone: tzinfo) -> datetime:
    """The instant the clock jumps over the nonexistent wall time `wall`."""
    # PEP 495: in a gap, fold=0 uses the offset before the jump and fold=1 the
    # one after, so the jump lies in (low, high]. Search it to the second.
    low = (wall - zone.utcoffset(wall.replace(fold=1))).replace(tzinfo=UTC)
    high = (wall - zone.utcoffset(wall)).replace(tzinfo=UTC)
    offset_before = low.astimezone(zone).utcoffset()
    while high - low > ONE_SECOND:
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            break
        if middle.astimezone(zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return high


def _pdsa_function(zone: tzinfo, saturday_afternoon: bool, bridges: bool) -> PdsaFunction:
    if getattr(zone, "key", None) == PARIS_KEY:
        # The wall time is already Paris time: no conversion, cached per (date, hour).
        def from_wall(wall: datetime, _utc: datetime) -> bool:
            return hours.is_pdsa_wall(
                wall.date(),
                wall.hour,
                saturday_afternoon=saturday_afternoon,
                include_bridges=bridges,
            )

        return from_wall

    def from_instant(_wall: datetime, utc: datetime) -> bool:
        return hours.is_pdsa(utc, saturday_afternoon=saturday_afternoon, include_bridges=bridges)

    return from_instant


# --- interval bookkeeping ----------------------------------------------------


class _Blocked:
    """Exceptions, merged into sorted disjoint UTC intervals for a bisect lookup."""

    def __init__(self, periods: Iterable[Period]) -> None:
        spans = sorted((_as_utc(p.start), _as_utc(p.end)) for p in periods if p.end > p.start)
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        for begin, finish in spans:
            if self.ends and begin <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], finish)
            else:
                self.starts.append(begin)
                self.ends.append(finish)

    def overlaps(self, begin: datetime, finish: datetime) -> bool:
        if not self.starts:
            return False
        i = bisect_right(self.ends, begin)  # first interval ending after `begin`
        return i < len(self.starts) and self.starts[i] < finish


class _Agenda:
    """Kept occurrences, disjoint, bucketed per UTC date so inserts stay cheap."""

    def __init__(self) -> None:
        self.buckets: dict[int, tuple[list[datetime], list[datetime]]] = {}

    def add(self, begin: datetime, finish: datetime) -> bool:
        """Keep [begin, finish) unless it overlaps a kept interval; True when kept."""
        first = begin.toordinal()
        last = (finish - ONE_MICROSECOND).toordinal()
        if first == last:  # the common case, kept apart for speed
            bucket = self.buckets.get(first)
            if bucket is None:
                self.buckets[first] = ([begin], [finish])
                return True
            starts, ends = bucket
            i = bisect_right(ends, begin)  # first interval ending after `begin`
            if i < len(starts) and starts[i] < finish:
                return False
            starts.insert(i, begin)
            ends.insert(i, finish)
            return True

        positions = []
        for key in range(first, last + 1):
            starts, ends = self.buckets.get(key, ([], []))
            i = bisect_right(ends, begin)
            if i < len(starts) and starts[i] < finish:
                return False
            positions.append((key, i))
        for key, i in positions:
            starts, ends = self.buckets.setdefault(key, ([], []))
            starts.insert(i, begin)
            ends.insert(i, finish)
        return True


# --- small helpers -------------------------------------------------------------


def _is_weekday(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime")
    return value.astimezone(UTC)


def _wall_length(rule: WeeklyRule) -> timedelta:
    day = date(2000, 1, 3)  # any day: wall-clock arithmetic ignores DST here
    begin = datetime.combine(day, rule.start_time.replace(tzinfo=None))
    end_day = day + ONE_DAY if rule.end_time == MIDNIGHT else day
    return datetime.combine(end_day, rule.end_time.replace(tzinfo=None)) - begin


def _format_minutes(length: timedelta) -> str:
    minutes = int(length.total_seconds() // 60)
    return f"{minutes} min"
