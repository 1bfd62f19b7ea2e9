"""The monthly participation statement of one professional (a read: selectors style).

Majoration SNP: a fixed amount per regulated consultation done, capped per ISO week
(15 € and 20 a week nationally; settings RELAIS_SNP_MAJORATION_EUR and
RELAIS_SNP_MAJORATION_WEEKLY_CAP). A week straddling two months counts, in each
month, the consultations of that month only, capped at the weekly maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.directory.models import Professional

DEFAULT_MAJORATION_EUR = Decimal("15")
DEFAULT_WEEKLY_CAP = 20


@dataclass
class WeekLine:
    year: int
    week: int
    first_day: date
    consultations: int = 0
    noshows: int = 0
    majorations: int = 0
    amount: Decimal = Decimal("0")
    hours_published: float = 0.0


@dataclass
class Statement:
    professional: Professional
    month: date  # first day
    majoration_eur: Decimal
    weekly_cap: int
    weeks: list[WeekLine] = field(default_factory=list)
    # Patients taken beyond the published slots (non-cancelled bookings in the month).
    surnumeraire: int = 0
    level2: int = 0

    @property
    def consultations(self) -> int:
        return sum(w.consultations for w in self.weeks)

    @property
    def noshows(self) -> int:
        return sum(w.noshows for w in self.weeks)

    @property
    def majorations(self) -> int:
        return sum(w.majorations for w in self.weeks)

    @property
    def amount(self) -> Decimal:
        return sum((w.amount for w in self.weeks), Decimal("0"))

    @property
    def hours_published(self) -> float:
        return round(sum(w.hours_published for w in self.weeks), 2)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (
        timezone.make_aware(datetime.combine(first, time(0))),
        timezone.make_aware(datetime.combine(following, time(0))),
    )


def participation_statement(*, professional: Professional, month: date) -> Statement:
    from relais.orientation.models import Booking, BookingKind, BookingStatus

    start, end = month_bounds(month)
    cpts = professional.cpts
    amount = cpts.majoration_eur if cpts and cpts.majoration_eur is not None else None
    cap = cpts.majoration_weekly_cap if cpts and cpts.majoration_weekly_cap is not None else None
    statement = Statement(
        professional=professional,
        month=month.replace(day=1),
        majoration_eur=Decimal(
            str(
                amount
                if amount is not None
                else getattr(settings, "RELAIS_SNP_MAJORATION_EUR", DEFAULT_MAJORATION_EUR)
            )
        ),
        weekly_cap=int(
            cap
            if cap is not None
            else getattr(settings, "RELAIS_SNP_MAJORATION_WEEKLY_CAP", DEFAULT_WEEKLY_CAP)
        ),
    )
    kinds = dict(
        Booking.objects.filter(
            slot__professional=professional, slot__start__gte=start, slot__start__lt=end
        )
        .exclude(status=BookingStatus.CANCELLED)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    statement.surnumeraire = kinds.get(BookingKind.SURNUMERAIRE, 0)
    statement.level2 = kinds.get(BookingKind.NIVEAU2, 0)
    weeks: dict[tuple[int, int], WeekLine] = {}

    def line(moment: datetime) -> WeekLine:
        local = timezone.localdate(moment)
        year, week, _ = local.isocalendar()
        if (year, week) not in weeks:
            weeks[(year, week)] = WeekLine(year, week, local - timedelta(days=local.weekday()))
        return weeks[(year, week)]

    # Hours published: each slot (a plage once, whatever its places), closed ones left out.
    intervals = (
        Slot.objects.filter(professional=professional, start__gte=start, start__lt=end)
        .exclude(status=SlotStatus.BLOCKED)
        .values_list("start", "end")
        .distinct()
    )
    for slot_start, slot_end in intervals:
        line(slot_start).hours_published += (slot_end - slot_start).total_seconds() / 3600

    bookings = Booking.objects.filter(
        slot__professional=professional,
        slot__start__gte=start,
        slot__start__lt=end,
        status__in=[BookingStatus.FULFILLED, BookingStatus.NOSHOW],
    ).values_list("slot__start", "status")
    for slot_start, status in bookings:
        if status == BookingStatus.FULFILLED:
            line(slot_start).consultations += 1
        else:
            line(slot_start).noshows += 1

    for week in weeks.values():
        week.majorations = min(week.consultations, statement.weekly_cap)
        week.amount = statement.majoration_eur * week.majorations
    statement.weeks = [weeks[k] for k in sorted(weeks)]
    return statement


def statement_tables(statement: Statement):
    """The statement as tables (for the PDF, through the indicators' report builder)."""
    from relais.indicators.tables import DataTable

    weeks = DataTable(
        "semaines",
        "Par semaine",
        ["Semaine", "Consultations SNP", "Non venus", "Majorations", "Montant (€)", "Heures"],
        [
            [
                f"{w.year}-S{w.week:02d} (lundi {w.first_day:%d/%m})",
                w.consultations,
                w.noshows,
                w.majorations,
                f"{w.amount:.2f}",
                round(w.hours_published, 2),
            ]
            for w in statement.weeks
        ]
        + [
            [
                "Total",
                statement.consultations,
                statement.noshows,
                statement.majorations,
                f"{statement.amount:.2f}",
                statement.hours_published,
            ]
        ],
        note=(
            f"Majoration SNP {statement.majoration_eur:.2f} € par consultation régulée, "
            f"au plus {statement.weekly_cap} par semaine."
        ),
    )
    others = DataTable(
        "hors_creneaux",
        "Patients pris en charge hors créneaux publiés",
        ["Type", "Patients"],
        [["Surnuméraire", statement.surnumeraire], ["Niveau 2 CPTS", statement.level2]],
    )
    return [weeks, others]
