"""Activity indicators of a territory over a period, computed by database aggregates.

Every figure is defined in docs/indicators.md. The period is a range of Europe/Paris local
dates, both ends included; a request belongs to it when its `created_at`, read in Paris
time, falls on one of those dates.
"""

import statistics
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from relais.agenda.models import Slot, SlotStatus
from relais.directory.models import Profession
from relais.orientation.models import Booking, BookingStatus
from relais.regulation.models import Channel, Request, RequestStatus

PARIS = ZoneInfo("Europe/Paris")
RATE_DIGITS = 4
HOURS_DIGITS = 2


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
    professional belongs to the CPTS, or its practice lies in a commune the CPTS covers."""
    if sas_ids is None and cpts_ids is None:
        return None
    q = Q(pk__in=[])
    if sas_ids is not None:
        q |= Q(practice__commune__departement__sas__in=list(sas_ids))
    if cpts_ids is not None:
        cpts_ids = list(cpts_ids)
        q |= Q(professional__cpts_id__in=cpts_ids) | Q(practice__commune__cpts_set__in=cpts_ids)
    return q


def _rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, RATE_DIGITS) if denominator else 0.0


class _EpochSeconds(Func):
    """PostgreSQL: an interval as a number of seconds."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


class _Median(Aggregate):
    """PostgreSQL: percentile_cont(0.5) WITHIN GROUP (ORDER BY expr)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()
    allow_distinct = False


def _delay_figures(requests: QuerySet[Request]) -> dict:
    """Delay between a request's creation and the start of its booked slot.

    The booked slot is the earliest-starting non-cancelled booking of the request. Only
    requests having such a booking count (the denominator of the within-N-hours rates).
    """
    first_slot_start = (
        Booking.objects.filter(request=OuterRef("pk"))
        .exclude(status=BookingStatus.CANCELLED)
        .order_by("slot__start")
        .values("slot__start")[:1]
    )
    booked = (
        requests.annotate(first_start=Subquery(first_slot_start, output_field=DateTimeField()))
        .filter(first_start__isnull=False)
        .annotate(
            delay=ExpressionWrapper(
                F("first_start") - F("created_at"), output_field=DurationField()
            )
        )
    )
    aggregates = {
        "booked": Count("pk"),
        "within_24h": Count("pk", filter=Q(delay__lte=timedelta(hours=24))),
        "within_48h": Count("pk", filter=Q(delay__lte=timedelta(hours=48))),
    }
    if connection.vendor == "postgresql":
        aggregates["median_seconds"] = _Median(_EpochSeconds(F("delay")))
    figures = booked.order_by().aggregate(**aggregates)
    if figures["booked"] == 0:
        median_hours = None
    elif connection.vendor == "postgresql":
        median_hours = figures["median_seconds"] / 3600
    else:
        # Fallback for SQLite (no percentile function): one column, the delays only.
        delays = booked.order_by().values_list("delay", flat=True)
        median_hours = statistics.median(d.total_seconds() for d in delays) / 3600
    return {
        "booked_requests": figures["booked"],
        "median_delay_hours": None if median_hours is None else round(median_hours, HOURS_DIGITS),
        "within_24h_rate": _rate(figures["within_24h"], figures["booked"]),
        "within_48h_rate": _rate(figures["within_48h"], figures["booked"]),
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
    Six queries whatever the volume (seven on SQLite, which has no median aggregate).
    """
    lower, upper = period_bounds(start=start, end=end)
    request_q = _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    requests = Request.objects.filter(request_q).order_by()

    # 1. Counts by channel and status, one row.
    counts = requests.aggregate(
        total=Count("pk"),
        phone=Count("pk", filter=Q(channel=Channel.PHONE)),
        web=Count("pk", filter=Q(channel=Channel.WEB)),
        professional=Count("pk", filter=Q(channel=Channel.PROFESSIONAL)),
        done=Count("pk", filter=Q(status=RequestStatus.DONE)),
        noshow=Count("pk", filter=Q(status=RequestStatus.NOSHOW)),
        redirected=Count("pk", filter=Q(status=RequestStatus.REDIRECTED)),
        unplaced=Count("pk", filter=Q(status=RequestStatus.UNPLACED)),
        without_motif=Count("pk", filter=Q(motif__isnull=True)),
    )

    # 2. Motifs, one row per CISP-2 code.
    motifs = dict(
        requests.filter(motif__isnull=False)
        .values_list("motif__code")
        .annotate(n=Count("pk"))
        .order_by("motif__code")
    )

    # 3. Delays (plus one single-column query on SQLite for the median).
    delays = _delay_figures(requests)

    # 4. Professionals publishing: non-blocked slots starting in the period.
    slots = Slot.objects.filter(start__gte=lower, start__lt=upper).exclude(
        status=SlotStatus.BLOCKED
    )
    slot_q = _slot_territory_q(sas_ids=sas_ids, cpts_ids=cpts_ids)
    if slot_q is not None:
        slots = slots.filter(slot_q)
    publishing = slots.order_by().aggregate(n=Count("professional_id", distinct=True))["n"]

    # 5-6. Non-cancelled bookings of the period's requests: who accepted, which professions.
    bookings = (
        Booking.objects.filter(
            _request_q(
                lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids, prefix="request__"
            )
        )
        .exclude(status=BookingStatus.CANCELLED)
        .order_by()
    )
    accepted = bookings.aggregate(n=Count("slot__professional_id", distinct=True))["n"]
    by_profession = dict.fromkeys(Profession.values, 0)
    by_profession.update(
        bookings.values_list("slot__professional__profession").annotate(n=Count("pk"))
    )

    total = counts["total"]
    return {
        "start": start,
        "end": end,
        "requests_total": total,
        "requests_by_channel": {
            Channel.PHONE.value: counts["phone"],
            Channel.WEB.value: counts["web"],
            Channel.PROFESSIONAL.value: counts["professional"],
        },
        "consultations_done": counts["done"],
        "response_rate": _rate(counts["done"], total),
        "no_shows": counts["noshow"],
        "no_show_rate": _rate(counts["noshow"], counts["done"] + counts["noshow"]),
        "redirected_to_15": counts["redirected"],
        "unplaced": counts["unplaced"],
        "motifs": motifs,
        "usable_motifs": total - counts["without_motif"],
        "unusable_motifs": counts["without_motif"],
        **delays,
        "professionals_publishing": publishing,
        "professionals_accepted": accepted,
        "solicited_by_profession": by_profession,
    }
