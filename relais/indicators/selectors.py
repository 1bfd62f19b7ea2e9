"""Activity indicators of a territory over a period, computed by database aggregates.

Every figure is defined in docs/indicators.md. The period is a range of Europe/Paris local
dates, both ends included; a request belongs to it when its `created_at`, read in Paris
time, falls on one of those dates.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
)
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate

from relais.accounts.permissions import Scope
from relais.agenda.models import Slot, SlotStatus
from relais.core.errors import NotFound
from relais.directory.models import Practice, Profession, Professional
from relais.indicators.definitions import DOORS
from relais.orientation.models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    BookingKind,
    BookingStatus,
)
from relais.regulation.models import Channel, Motif, Request, RequestStatus
from relais.territory.models import Cpts, Sas

PARIS = ZoneInfo("Europe/Paris")
RATE_DIGITS = 4
HOURS_DIGITS = 2


MAX_PERIOD_DAYS = 400
FIRST_YEAR, LAST_YEAR = 2000, 2100


def period_check(*, start: date, end: date) -> None:
    """The one validation of an indicators period (pages, exports and API)."""
    from relais.core.errors import ApplicationError

    for day in (start, end):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ApplicationError(
                f"Date hors limites : entre {FIRST_YEAR} et {LAST_YEAR}.", code="invalid_period"
            )
    if end < start:
        raise ApplicationError(
            "La date de fin doit être postérieure ou égale à la date de début.",
            code="invalid_period",
        )
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ApplicationError(
            f"La période ne peut pas dépasser {MAX_PERIOD_DAYS} jours.", code="invalid_period"
        )


def period_bounds(*, start: date, end: date) -> tuple[datetime, datetime]:
    """[first instant of `start`, first instant of the day after `end`) in Paris time.

    Built from local midnights, so a period crossing a DST change keeps whole days.
    """
    lower = datetime.combine(start, time.min, tzinfo=PARIS)
    upper = datetime.combine(end + timedelta(days=1), time.min, tzinfo=PARIS)
    return lower, upper


def _request_q(
    *,
    lower: datetime,
    upper: datetime,
    sas_ids: Iterable[int] | None,
    cpts_ids: Iterable[int] | None,
    prefix: str = "",
) -> Q:
    """Requests of the period and territory, as a Q usable from Request (or via `prefix`)."""
    q = Q(**{f"{prefix}created_at__gte": lower, f"{prefix}created_at__lt": upper})
    if sas_ids is None and cpts_ids is None:
        return q
    territory = Q(pk__in=[])
    if sas_ids is not None:
        territory |= Q(**{f"{prefix}sas_id__in": list(sas_ids)})
    if cpts_ids is not None:
        territory |= Q(**{f"{prefix}cpts_id__in": list(cpts_ids)})
    return q & territory


def _slot_territory_q(*, sas_ids, cpts_ids) -> Q | None:
    """A slot is in the territory when its practice lies in the SAS's département, or its
    professional belongs to the CPTS, or its practice lies in a commune the CPTS covers.

    The practices (and CPTS members) are resolved first, by one small query each, and the
    slot query filters on their ids: joined through commune and département, the planner
    estimated a few thousand slots where a département-year holds 300,000, and chose a
    nested loop (issue 7, docs/indicators.md "Performance"). A list of ids also never
    repeats a slot whose commune several CPTS cover.
    """
    if sas_ids is None and cpts_ids is None:
        return None
    in_territory = Q(pk__in=[])
    members: list[int] = []
    if sas_ids is not None:
        in_territory |= Q(commune__departement__sas__in=list(sas_ids))
    if cpts_ids is not None:
        cpts_ids = list(cpts_ids)
        covered = Cpts.communes.through.objects.filter(cpts_id__in=cpts_ids).values("commune_id")
        in_territory |= Q(commune_id__in=covered)
        members = list(
            Professional.objects.filter(cpts_id__in=cpts_ids).values_list("pk", flat=True)
        )
    practices = list(Practice.objects.filter(in_territory).values_list("pk", flat=True))
    return Q(practice_id__in=practices) | Q(professional_id__in=members)


def _published_slots(*, lower, upper, sas_ids, cpts_ids) -> QuerySet[Slot]:
    """Non-blocked slots starting in [lower, upper) and in the territory."""
    slots = Slot.objects.filter(start__gte=lower, start__lt=upper).exclude(
        status=SlotStatus.BLOCKED
    )
    slot_q = _slot_territory_q(sas_ids=sas_ids, cpts_ids=cpts_ids)
    if slot_q is not None:
        slots = slots.filter(slot_q)
    return slots.order_by()


def _used() -> Count:
    """Used slots: those with a non-cancelled booking, i.e. whose status is `booked`.

    The booking service keeps the two together (booking_create books the slot in the same
    UPDATE that takes it; booking_cancel frees it, past or future), and the orientation
    state-machine test checks it after every step. Counting the status reads the slot rows
    alone: the join with bookings it replaces was 300,000 index probes for a
    département-year (docs/indicators.md, "Performance").
    """
    return Count("pk", filter=Q(status=SlotStatus.BOOKED))


def _rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, RATE_DIGITS) if denominator else 0.0


def _percentile_cont(ordered: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont over an ordered list: linear interpolation between the
    two values around position fraction * (n - 1)."""
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


_BOOKING_GROUPS = ("slot__professional_id", "slot__professional__profession", "kind")


def _booking_figures(bookings: QuerySet[Booking]) -> tuple[dict, list[tuple]]:
    """Delays between a request's creation and the start of its booked slot, and the
    bookings counted per (professional, profession, kind).

    `bookings`: the non-cancelled bookings of the period's requests. The booked slot of a
    request is the earliest-starting of them; only requests having one count (the
    denominator of the within-N-hours rates).

    PostgreSQL: one statement reads the bookings once (a materialised CTE built from the
    ORM query, then the two aggregates over it): the join of a year's bookings with their
    requests and slots is most of the cost, so doing it once halves the time. SQLite (the
    demo, no percentile function): the same figures by three ORM queries.
    """
    if connection.vendor != "postgresql":
        return _booking_figures_portable(bookings)
    rows = bookings.values(
        "request_id",
        "kind",
        "status",
        professional=F("slot__professional_id"),
        profession=F("slot__professional__profession"),
        start=F("slot__start"),
        created=F("request__created_at"),
    )
    try:
        inner, params = rows.query.sql_with_params()
    except EmptyResultSet:  # an empty territory: the ORM knows it matches nothing
        return _delay_summary(0, 0, 0, 0, None, None), []
    sql = f"""
        WITH b AS MATERIALIZED ({inner}),
        delays AS (
            SELECT MIN(start) - MIN(created) AS delay,
                   MIN(start) FILTER (WHERE status = %s) - MIN(created) AS seen_delay
              FROM b GROUP BY request_id
        )
        SELECT professional, profession, kind, COUNT(*), NULL, NULL, NULL, NULL, NULL
          FROM b GROUP BY professional, profession, kind
        UNION ALL
        SELECT NULL, NULL, NULL, COUNT(*), COUNT(seen_delay),
               COUNT(*) FILTER (WHERE seen_delay <= interval '24 hours'),
               COUNT(*) FILTER (WHERE seen_delay <= interval '48 hours'),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM delay)),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM delay))
          FROM delays
    """  # noqa: S608 - `inner` is Django's compiled SQL, every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, BookingStatus.FULFILLED.value))
        result = cursor.fetchall()
    groups = [row[:4] for row in result if row[0] is not None]
    summary = next(row for row in result if row[0] is None)
    booked, seen, within_24h, within_48h, median, p90 = summary[3:]
    return _delay_summary(booked, seen, within_24h, within_48h, median, p90), groups


def _booking_figures_portable(bookings: QuerySet[Booking]) -> tuple[dict, list[tuple]]:
    """_booking_figures by the ORM alone: grouped counts, then the delays of the requests
    (one grouped subquery, one aggregate) and their percentiles computed in Python from
    one column of delays."""
    groups = list(
        bookings.values_list(*_BOOKING_GROUPS)
        .annotate(n=Count("pk"))
        .values_list(*_BOOKING_GROUPS, "n")
    )
    booked = bookings.values("request_id").annotate(
        delay=ExpressionWrapper(
            Min("slot__start") - Min("request__created_at"), output_field=DurationField()
        ),
        seen_delay=ExpressionWrapper(
            Min("slot__start", filter=Q(status=BookingStatus.FULFILLED))
            - Min("request__created_at"),
            output_field=DurationField(),
        ),
    )
    figures = booked.order_by().aggregate(
        booked=Count("request_id"),
        seen=Count("request_id", filter=Q(seen_delay__isnull=False)),
        within_24h=Count("request_id", filter=Q(seen_delay__lte=timedelta(hours=24))),
        within_48h=Count("request_id", filter=Q(seen_delay__lte=timedelta(hours=48))),
    )
    median = p90 = None
    if figures["booked"]:
        delays = sorted(
            d.total_seconds() for d in booked.order_by().values_list("delay", flat=True)
        )
        median, p90 = _percentile_cont(delays, 0.5), _percentile_cont(delays, 0.9)
    summary = _delay_summary(
        figures["booked"],
        figures["seen"],
        figures["within_24h"],
        figures["within_48h"],
        median,
        p90,
    )
    return summary, groups


def _delay_summary(booked, seen, within_24h, within_48h, median_seconds, p90_seconds) -> dict:
    """Delays over the booked requests; "seen within 24/48 h" over the requests whose
    patient was seen (a fulfilled booking): a no-show or an appointment still to come is no
    patient seen (issue 19: 75 % "seen within 24 h" with one patient seen)."""

    def hours(seconds):
        return None if not booked or seconds is None else round(seconds / 3600, HOURS_DIGITS)

    return {
        "booked_requests": booked,
        "seen_requests": seen,
        "median_delay_hours": hours(median_seconds),
        "p90_delay_hours": hours(p90_seconds),
        "within_24h_rate": _rate(within_24h, seen),
        "within_48h_rate": _rate(within_48h, seen),
    }


def indicators_compute(
    *,
    start: date,
    end: date,
    sas_ids: Iterable[int] | None = None,
    cpts_ids: Iterable[int] | None = None,
) -> dict:
    """The indicators of requests created (Paris dates) in [start, end], both included.

    `sas_ids` / `cpts_ids`: keep requests whose SAS is in `sas_ids` or whose CPTS is in
    `cpts_ids`; both None means every territory; an empty collection matches nothing.
    Six queries whatever the volume (one more for a CPTS, its members; one more on SQLite,
    which has no percentile aggregate).
    """
    lower, upper = period_bounds(start=start, end=end)
    request_q = _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    requests = Request.objects.filter(request_q).order_by()

    # 1. Counts by channel and status, one row per motif (one read of the requests), added
    # up here; the motifs' codes by a lookup in the small CISP-2 table.
    per_motif = list(
        requests.values("motif_id").annotate(
            total=Count("pk"),
            phone=Count("pk", filter=Q(channel=Channel.PHONE)),
            web=Count("pk", filter=Q(channel=Channel.WEB)),
            professional=Count("pk", filter=Q(channel=Channel.PROFESSIONAL)),
            **{
                f"status_{value}": Count("pk", filter=Q(status=value))
                for value in RequestStatus.values
            },
        )
    )
    counts = {
        key: sum(row[key] for row in per_motif)
        for key in ("total", "phone", "web", "professional")
        + tuple(f"status_{value}" for value in RequestStatus.values)
    }
    counts["without_motif"] = sum(row["total"] for row in per_motif if row["motif_id"] is None)
    codes = dict(
        Motif.objects.filter(pk__in=[row["motif_id"] for row in per_motif]).values_list(
            "pk", "code"
        )
    )
    motifs = dict(
        sorted((codes[row["motif_id"]], row["total"]) for row in per_motif if row["motif_id"])
    )

    # 2. Slots published (not blocked, starting in the period), used, and their owners.
    # Grouped by professional (a hash aggregate) rather than COUNT(DISTINCT), which sorts
    # every slot; the few hundred groups are then added up.
    slot_figures = {"publishing": 0, "published": 0, "used": 0}
    for published, used in (
        _published_slots(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
        .values("professional_id")
        .annotate(published=Count("pk"), used=_used())
        .values_list("published", "used")
    ):
        slot_figures["publishing"] += 1
        slot_figures["published"] += published
        slot_figures["used"] += used

    # Non-cancelled bookings of the period's requests: delays, who took the patients.
    bookings = (
        Booking.objects.filter(
            _request_q(
                lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids, prefix="request__"
            )
        )
        .exclude(status=BookingStatus.CANCELLED)
        .order_by()
    )
    # 3. Delays, and who took the patients and how they were placed (published slot,
    # surnuméraire or niveau 2): groups per professional and kind, added up by profession
    # and by kind; the number of distinct professionals is the number who accepted one.
    delays, groups = _booking_figures(bookings)
    by_profession = dict.fromkeys(Profession.values, 0)
    by_kind = dict.fromkeys(BookingKind.values, 0)
    accepting = set()
    for professional_id, profession, kind, n in groups:
        by_profession[profession] += n
        by_kind[kind] = by_kind.get(kind, 0) + n
        accepting.add(professional_id)
    accepted = len(accepting)

    total = counts["total"]
    done = counts[f"status_{RequestStatus.DONE.value}"]
    noshow = counts[f"status_{RequestStatus.NOSHOW.value}"]
    return {
        "start": start,
        "end": end,
        "requests_total": total,
        "requests_by_channel": {
            Channel.PHONE.value: counts["phone"],
            Channel.WEB.value: counts["web"],
            Channel.PROFESSIONAL.value: counts["professional"],
        },
        "consultations_done": done,
        "response_rate": _rate(done, total),
        "no_shows": noshow,
        "no_show_rate": _rate(noshow, done + noshow),
        "redirected_to_15": counts[f"status_{RequestStatus.REDIRECTED.value}"],
        "unplaced": counts[f"status_{RequestStatus.UNPLACED.value}"],
        "requests_by_status": {value: counts[f"status_{value}"] for value in RequestStatus.values},
        "motifs": motifs,
        "usable_motifs": total - counts["without_motif"],
        "unusable_motifs": counts["without_motif"],
        **delays,
        "professionals_publishing": slot_figures["publishing"],
        "professionals_accepted": accepted,
        "solicited_by_profession": by_profession,
        "slots_published": slot_figures["published"],
        "slots_used": slot_figures["used"],
        "slots_use_rate": _rate(slot_figures["used"], slot_figures["published"]),
        "bookings_by_kind": by_kind,
    }


# --- Territories -------------------------------------------------------------------------


@dataclass(frozen=True)
class Territory:
    """A SAS (its département) or one CPTS, with the selector arguments that select it."""

    kind: str  # "sas" or "cpts"
    public_id: UUID
    name: str
    sas_ids: frozenset[int] | None
    cpts_ids: frozenset[int] | None

    @property
    def filter(self) -> dict:
        return {"sas_ids": self.sas_ids, "cpts_ids": self.cpts_ids}

    @property
    def kind_label(self) -> str:
        return "SAS" if self.kind == "sas" else "CPTS"

    @property
    def label(self) -> str:
        """ "SAS Essonne", "CPTS Cœur Essonne": the name, prefixed by the kind if it lacks it."""
        if self.name.upper().startswith(self.kind_label):
            return self.name
        return f"{self.kind_label} {self.name}"


def _sas_territory(sas: Sas) -> Territory:
    return Territory("sas", sas.public_id, sas.name, frozenset({sas.pk}), None)


def _cpts_territory(cpts: Cpts) -> Territory:
    return Territory("cpts", cpts.public_id, cpts.name, None, frozenset({cpts.pk}))


def territories_for_scope(scope: Scope) -> list[Territory]:
    """The territories whose indicators the scope may see: its SAS, then the CPTS it belongs
    to or whose SAS it holds. Empty without the `indicators.view` action."""
    if not scope.can("indicators.view"):
        return []
    sas = Sas.objects.filter(pk__in=scope.sas_ids).select_related("departement")
    cpts = Cpts.objects.filter(Q(pk__in=scope.cpts_ids) | Q(sas_id__in=scope.sas_ids))
    return [
        *(_sas_territory(s) for s in sas.order_by("departement__code")),
        *(_cpts_territory(c) for c in cpts.order_by("name")),
    ]


def territory_get_for_scope(*, scope: Scope, public_id) -> Territory:
    """One territory of the scope by public id; NotFound for unknown, malformed and
    out-of-scope identifiers alike (no existence leak)."""
    try:
        public_id = UUID(str(public_id))
    except ValueError:
        raise NotFound("Territoire introuvable.") from None
    if scope.can("indicators.view"):
        sas = Sas.objects.filter(public_id=public_id).first()
        if sas is not None and sas.pk in scope.sas_ids:
            return _sas_territory(sas)
        cpts = Cpts.objects.filter(public_id=public_id).first()
        if cpts is not None and (cpts.pk in scope.cpts_ids or cpts.sas_id in scope.sas_ids):
            return _cpts_territory(cpts)
    raise NotFound("Territoire introuvable.")


# --- Dashboard figures beyond indicators_compute ------------------------------------------


def motif_labels(codes: Iterable[str]) -> dict[str, str]:
    """{CISP-2 code: label} for the given codes (one query)."""
    return dict(Motif.objects.filter(code__in=list(codes)).values_list("code", "label"))


def indicators_daily(
    *,
    start: date,
    end: date,
    sas_ids: Iterable[int] | None = None,
    cpts_ids: Iterable[int] | None = None,
) -> list[dict]:
    """One row per Paris date of [start, end]: requests created, of which now `done`; slots
    published (starting that day), of which used. Two grouped queries; days without
    activity are zeros."""
    lower, upper = period_bounds(start=start, end=end)
    requests = Request.objects.filter(
        _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    ).order_by()
    by_day_requests = {
        row["day"]: row
        for row in requests.annotate(day=TruncDate("created_at", tzinfo=PARIS))
        .values("day")
        .annotate(requests=Count("pk"), done=Count("pk", filter=Q(status=RequestStatus.DONE)))
    }
    slots = _published_slots(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    by_day_slots = {
        row["day"]: row
        for row in slots.annotate(day=TruncDate("start", tzinfo=PARIS))
        .values("day")
        .annotate(published=Count("pk"), used=_used())
    }
    days = []
    day = start
    while day <= end:
        r = by_day_requests.get(day, {})
        s = by_day_slots.get(day, {})
        days.append(
            {
                "day": day,
                "requests": r.get("requests", 0),
                "done": r.get("done", 0),
                "slots_published": s.get("published", 0),
                "slots_used": s.get("used", 0),
            }
        )
        day += timedelta(days=1)
    return days


def indicators_weekly(daily: list[dict]) -> list[dict]:
    """The daily rows summed by ISO week (Monday first); the first and last weeks may be
    partial, `days` says how many days of the period they hold."""
    weeks: dict[date, dict] = {}
    for row in daily:
        monday = row["day"] - timedelta(days=row["day"].weekday())
        week = weeks.setdefault(
            monday,
            {
                "week": monday,
                "days": 0,
                "requests": 0,
                "done": 0,
                "slots_published": 0,
                "slots_used": 0,
            },
        )
        week["days"] += 1
        for key in ("requests", "done", "slots_published", "slots_used"):
            week[key] += row[key]
    return list(weeks.values())


def indicators_heatmap(
    *,
    start: date,
    end: date,
    sas_ids: Iterable[int] | None = None,
    cpts_ids: Iterable[int] | None = None,
) -> dict:
    """Demand against supply by ISO weekday (1 = Monday) and hour, Paris time.

    `demand[weekday - 1][hour]`: requests created then; `supply[weekday - 1][hour]`: slots
    published (not blocked) starting then. Two grouped queries.
    """
    lower, upper = period_bounds(start=start, end=end)
    requests = Request.objects.filter(
        _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    ).order_by()
    slots = _published_slots(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    grids = {}
    for name, qs, field in (("demand", requests, "created_at"), ("supply", slots, "start")):
        grid = [[0] * 24 for _ in range(7)]
        rows = (
            qs.annotate(
                wd=ExtractIsoWeekDay(field, tzinfo=PARIS), hour=ExtractHour(field, tzinfo=PARIS)
            )
            .values_list("wd", "hour")
            .annotate(n=Count("pk"))
        )
        for weekday, hour, n in rows:
            grid[weekday - 1][hour] = n
        grids[name] = grid
    return grids


def _professionals_in_territory(*, sas_ids, cpts_ids) -> QuerySet[Professional]:
    """Professionals of the territory: a practice in the SAS's département, or member of the
    CPTS, or a practice in a commune the CPTS covers (the slot rule, applied to people)."""
    qs = Professional.objects.filter(active=True)
    if sas_ids is None and cpts_ids is None:
        return qs
    q = Q(pk__in=[])
    if sas_ids is not None:
        q |= Q(
            pk__in=Professional.practices.through.objects.filter(
                practice__commune__departement__sas__in=list(sas_ids)
            ).values("professional_id")
        )
    if cpts_ids is not None:
        cpts_ids = list(cpts_ids)
        covered = Cpts.communes.through.objects.filter(cpts_id__in=cpts_ids).values("commune_id")
        q |= Q(cpts_id__in=cpts_ids) | Q(
            pk__in=Professional.practices.through.objects.filter(
                practice__commune_id__in=covered
            ).values("professional_id")
        )
    return qs.filter(q)


def contract_compute(
    *,
    start: date,
    end: date,
    sas_ids: Iterable[int] | None = None,
    cpts_ids: Iterable[int] | None = None,
) -> dict:
    """The CPTS contract (ACI) indicators of the SAS mission, for the ARS report.

    Three queries. Definitions in docs/indicators.md ("Contract indicators").
    """
    lower, upper = period_bounds(start=start, end=end)
    doctors = _professionals_in_territory(sas_ids=sas_ids, cpts_ids=cpts_ids).filter(
        profession=Profession.MEDECIN
    )
    published = _published_slots(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    people = doctors.aggregate(
        total=Count("pk"),
        sas=Count("pk", filter=Q(sas_participant=True)),
        level2=Count("pk", filter=Q(cpts_level2=True)),
        surnumeraire=Count("pk", filter=Q(accepts_surnumeraire=True)),
    )
    # Doctors having published a slot of the territory in the period (the slot rule).
    publishing = (
        published.filter(professional__profession=Profession.MEDECIN)
        .values("professional_id")
        .distinct()
        .count()
    )
    # The CPTS's effecteurs: members of the CPTS (CPTS report) or of any CPTS of the SAS.
    if cpts_ids is not None:
        member_q = Q(slot__professional__cpts_id__in=list(cpts_ids))
    elif sas_ids is not None:
        member_q = Q(slot__professional__cpts__sas_id__in=list(sas_ids))
    else:
        member_q = Q(slot__professional__cpts__isnull=False)
    requests_total = Request.objects.filter(
        _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    ).count()
    via_cpts = (
        Booking.objects.filter(
            _request_q(
                lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids, prefix="request__"
            ),
            member_q,
            status__in=ACTIVE_BOOKING_STATUSES,
        )
        .order_by()
        .aggregate(
            requests=Count("request_id", distinct=True),
            done=Count("request_id", distinct=True, filter=Q(request__status=RequestStatus.DONE)),
        )
    )
    return {
        "doctors_total": people["total"],
        "doctors_sas_participants": people["sas"],
        "doctors_sas_participation_rate": _rate(people["sas"], people["total"]),
        "doctors_level2": people["level2"],
        "doctors_accepting_surnumeraire": people["surnumeraire"],
        "doctors_publishing": publishing,
        "requests_with_cpts_appointment": via_cpts["requests"],
        "requests_with_cpts_appointment_rate": _rate(via_cpts["requests"], requests_total),
        "consultations_done_via_cpts": via_cpts["done"],
    }


# --- Periods ------------------------------------------------------------------------------


def month_bounds(day: date) -> tuple[date, date]:
    """First and last date of `day`'s month."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def previous_period(*, start: date, end: date) -> tuple[date, date]:
    """The period to compare with: the previous calendar month for a whole month, otherwise
    the same number of days just before."""
    if (start, end) == month_bounds(start):
        return month_bounds(start - timedelta(days=1))
    length = end - start
    return start - length - timedelta(days=1), start - timedelta(days=1)


def indicators_dashboard(*, start: date, end: date, territory: Territory) -> dict:
    """Everything the dashboard, the exports and the ARS report show, for one territory."""
    current = indicators_compute(start=start, end=end, **territory.filter)
    before_start, before_end = previous_period(start=start, end=end)
    previous = indicators_compute(start=before_start, end=before_end, **territory.filter)
    daily = indicators_daily(start=start, end=end, **territory.filter)
    return {
        "territory": territory,
        "start": start,
        "end": end,
        "current": current,
        "previous": previous,
        "motif_labels": motif_labels(current["motifs"]),
        "daily": daily,
        "weekly": indicators_weekly(daily),
        "heatmap": indicators_heatmap(start=start, end=end, **territory.filter),
        "contract": contract_compute(start=start, end=end, **territory.filter),
        "doors": indicators_by_door(start=start, end=end, **territory.filter),
        "level2": indicators_level2(start=start, end=end, **territory.filter),
        "participants": indicators_participants(start=start, end=end, **territory.filter),
    }


# --- Doors and niveau 2 (issue 19, item 8) -------------------------------------------------


def indicators_by_door(
    *,
    start: date,
    end: date,
    sas_ids: Iterable[int] | None = None,
    cpts_ids: Iterable[int] | None = None,
) -> dict[str, dict]:
    """The period's requests split by the door they came in by, with the patients seen and
    the requests booked through a partner software. One grouped query.

    A phone request came through the CPTS line when the person who took it holds a CPTS
    role and no SAS role; otherwise (a SAS operator, an ARM, a régulateur, the LRM or an API
    client) through the SAS. Web and professional requests are their own doors.
    """
    from django.db.models import Case, Exists, OuterRef, Value, When

    from relais.accounts.models import Membership

    lower, upper = period_bounds(start=start, end=end)
    requests = Request.objects.filter(
        _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    ).order_by()
    sas_role = Membership.objects.filter(user=OuterRef("created_by"), sas__isnull=False)
    cpts_role = Membership.objects.filter(user=OuterRef("created_by"), cpts__isnull=False)
    partner = Booking.objects.filter(request=OuterRef("pk"), channel="partner").exclude(
        status=BookingStatus.CANCELLED
    )
    rows = (
        requests.annotate(
            door=Case(
                When(channel=Channel.WEB, then=Value("web")),
                When(channel=Channel.PROFESSIONAL, then=Value("referral")),
                When(Exists(cpts_role) & ~Exists(sas_role), then=Value("cpts_line")),
                default=Value("sas"),
            ),
            via_partner=Exists(partner),
        )
        .values("door")
        .annotate(
            requests=Count("pk"),
            done=Count("pk", filter=Q(status=RequestStatus.DONE)),
            partner=Count("pk", filter=Q(via_partner=True)),
        )
    )
    result = {key: {"requests": 0, "done": 0, "partner": 0} for key, _ in DOORS}
    for row in rows:
        result[row["door"]] = {k: row[k] for k in ("requests", "done", "partner")}
    return result


def indicators_level2(
    *,
    start: date,
    end: date,
    sas_ids: Iterable[int] | None = None,
    cpts_ids: Iterable[int] | None = None,
) -> dict:
    """Niveau-2 calls launched for the period's requests: how many, accepted, time to the
    acceptance (median, hours), unanswered (expired) and withdrawn (cancelled); and the
    requests with a call that stayed without a solution. Two small queries."""
    from relais.orientation.models import Level2Call, Level2Status

    lower, upper = period_bounds(start=start, end=end)
    calls = Level2Call.objects.filter(
        _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids, prefix="request__")
    ).order_by()
    counts = calls.aggregate(
        calls=Count("pk"),
        requests=Count("request_id", distinct=True),
        accepted=Count("pk", filter=Q(status=Level2Status.ACCEPTED)),
        expired=Count("pk", filter=Q(status=Level2Status.EXPIRED)),
        cancelled=Count("pk", filter=Q(status=Level2Status.CANCELLED)),
        open=Count("pk", filter=Q(status=Level2Status.OPEN)),
        unplaced=Count(
            "request_id", distinct=True, filter=Q(request__status=RequestStatus.UNPLACED)
        ),
    )
    waits = sorted(
        (accepted - created).total_seconds()
        for created, accepted in calls.filter(
            status=Level2Status.ACCEPTED, accepted_at__isnull=False
        ).values_list("created_at", "accepted_at")
    )
    median = round(_percentile_cont(waits, 0.5) / 3600, HOURS_DIGITS) if waits else None
    return {
        "calls": counts["calls"],
        "requests": counts["requests"],
        "accepted": counts["accepted"],
        "acceptance_rate": _rate(counts["accepted"], counts["calls"]),
        "median_hours_to_acceptance": median,
        "expired": counts["expired"],
        "cancelled": counts["cancelled"],
        "open": counts["open"],
        "unplaced_requests": counts["unplaced"],
    }


# --- Participating doctors (issue 19, item 8) -----------------------------------------------


def indicators_participants(
    *,
    start: date,
    end: date,
    sas_ids: Iterable[int] | None = None,
    cpts_ids: Iterable[int] | None = None,
) -> list[dict]:
    """One row per participating doctor of the territory (SAS participant, niveau-2
    volunteer, or owner of a slot published in the period): slots and hours published,
    ISO weeks of the period with at least the forfait's weekly hours published (whole
    weeks), the "2 h a week" declaration, patients seen, no-shows, and the majorations due
    by the participation statement's rule (relais.agenda.statement). Three queries."""
    from relais.agenda.statement import (
        forfait_min_weekly_hours,
        majorations_due,
        weekly_parameters,
    )

    lower, upper = period_bounds(start=start, end=end)
    monday = start - timedelta(days=start.weekday())
    weeks_lower = datetime.combine(monday, time.min, tzinfo=PARIS)
    weeks_upper = datetime.combine(end + timedelta(days=7 - end.weekday()), time.min, tzinfo=PARIS)
    published = _published_slots(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    doctors = list(
        _professionals_in_territory(sas_ids=sas_ids, cpts_ids=cpts_ids)
        .filter(profession=Profession.MEDECIN)
        .filter(
            Q(sas_participant=True)
            | Q(cpts_level2=True)
            | Q(pk__in=published.values("professional_id"))
        )
        .select_related("cpts__sas")
        .order_by("last_name", "first_name", "pk")
    )
    ids = [d.pk for d in doctors]
    slots: dict[int, int] = dict.fromkeys(ids, 0)
    hours: dict[int, float] = dict.fromkeys(ids, 0.0)
    week_hours: dict[tuple[int, tuple], float] = {}
    for pro, slot_start, slot_end, n in (
        Slot.objects.filter(professional_id__in=ids, start__gte=weeks_lower, start__lt=weeks_upper)
        .exclude(status=SlotStatus.BLOCKED)
        .values_list("professional_id", "start", "end")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        length = (slot_end - slot_start).total_seconds() / 3600
        key = (pro, slot_start.astimezone(PARIS).date().isocalendar()[:2])
        week_hours[key] = week_hours.get(key, 0.0) + length  # a plage once, whatever its places
        if lower <= slot_start < upper:
            slots[pro] += n
            hours[pro] += length
    period_weeks = []
    day = monday
    while day <= end:
        period_weeks.append(day.isocalendar()[:2])
        day += timedelta(days=7)
    consultations: dict[int, list[datetime]] = {pk: [] for pk in ids}
    seen = dict.fromkeys(ids, 0)
    noshows = dict.fromkeys(ids, 0)
    for pro, slot_start, status in (
        Booking.objects.filter(
            slot__professional_id__in=ids,
            slot__start__gte=weeks_lower,
            slot__start__lt=weeks_upper,
            status__in=[BookingStatus.FULFILLED, BookingStatus.NOSHOW],
        )
        .values_list("slot__professional_id", "slot__start", "status")
        .order_by()
    ):
        inside = lower <= slot_start < upper
        if status == BookingStatus.FULFILLED:
            consultations[pro].append(slot_start)
            seen[pro] += inside
        else:
            noshows[pro] += inside
    rows = []
    for doctor in doctors:
        amount, cap = weekly_parameters(doctor.cpts)
        due = majorations_due(consultations[doctor.pk], cap=cap, lower=lower, upper=upper)
        minimum = forfait_min_weekly_hours(doctor.cpts)  # the SAS's, else the settings
        rows.append(
            {
                "name": doctor.display_name,
                "rpps": doctor.rpps,
                "sas_participant": doctor.sas_participant,
                "slots_published": slots[doctor.pk],
                "hours_published": round(hours[doctor.pk], HOURS_DIGITS),
                "weeks": len(period_weeks),
                "weeks_with_min_hours": sum(
                    1
                    for week in period_weeks
                    if week_hours.get((doctor.pk, week), 0.0) >= minimum - 1e-9
                ),
                "declares_two_hours": doctor.declares_two_hours,
                "patients_seen": seen[doctor.pk],
                "no_shows": noshows[doctor.pk],
                "majorations_due": due,
                "majorations_amount": float(amount * due),
            }
        )
    return rows
