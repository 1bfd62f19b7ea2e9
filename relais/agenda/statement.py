"""The monthly participation statement of one professional (a read: selectors style).

The 2026 rules an effecteur of the SAS is paid by (docs/indicators.md, "Participation
statement"; sources: /work/shared/DOMAIN.md "Pay", and the forfait structure's SAS
indicator as reported by egora.fr, 3 June 2025):

- Majoration SNP: a fixed amount per regulated consultation done (fulfilled), capped per
  ISO week (15 € and 20 a week nationally; per CPTS `Cpts.majoration_eur` and
  `majoration_weekly_cap`, else settings RELAIS_SNP_MAJORATION_EUR and
  RELAIS_SNP_MAJORATION_WEEKLY_CAP). The cap is the ISO week's, whatever month its days
  fall in: the week's consultations are taken in time order and only the first `cap` of
  them carry a majoration, so a week across two months never pays more than the cap, and
  a month's statement does not change when the next month's consultations arrive.
- Forfait de participation au SAS: a yearly amount (1,400 € nationally, 200 points of the
  forfait structure's second part; per CPTS `Cpts.forfait_eur`, else its SAS's
  `Sas.forfait_eur`, else settings RELAIS_SAS_FORFAIT_EUR) paid by the Assurance Maladie,
  not monthly, to a doctor who (1) is registered with the SAS or belongs to a CPTS taking
  part in it and (2) opens at least two hours a week of their agenda to patients they do
  not follow (the SAS's `Sas.forfait_min_weekly_hours`, else settings
  RELAIS_SAS_FORFAIT_MIN_WEEKLY_HOURS). The statement shows whether the month's ISO weeks
  meet (2), measured on the hours published (whole ISO weeks), next to the declaration.
- No evening (19h-21h) majoration: neither DOMAIN.md nor the seed documents set one, so
  none is applied.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.core.csv_safety import safe_writer
from relais.directory.models import Professional

DEFAULT_MAJORATION_EUR = Decimal("15")
DEFAULT_WEEKLY_CAP = 20
DEFAULT_FORFAIT_EUR = Decimal("1400")
DEFAULT_FORFAIT_MIN_WEEKLY_HOURS = 2
CSV_BOM = "\ufeff"
NBSP = "\u00a0"


def euros(amount: Decimal) -> str:
    """An amount as people read it in France: "15,00 €", "1 400,00 €" (no-break spaces)."""
    text = f"{Decimal(amount).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"
    return text.replace(",", NBSP).replace(".", ",") + NBSP + "€"


def decimal_comma(value: Decimal | float) -> str:
    """A number for a French spreadsheet's CSV: two decimals, decimal comma, no grouping."""
    return f"{Decimal(str(value)).quantize(Decimal('0.01'), ROUND_HALF_UP)}".replace(".", ",")


@dataclass
class WeekLine:
    year: int
    week: int
    first_day: date  # the ISO week's Monday (may be in the previous month)
    consultations: int = 0  # fulfilled, on this month's days of the week
    noshows: int = 0
    majorations: int = 0
    amount: Decimal = Decimal("0")
    hours_published: float = 0.0  # on this month's days of the week
    # The same ISO week's consultations on another month's days, and how many of the cap
    # they took (those before this month's, in time order).
    other_month_consultations: int = 0
    cap_taken_before: int = 0
    week_hours_published: float = 0.0  # the whole ISO week (the forfait's 2 h condition)

    @property
    def straddles(self) -> bool:
        return self.first_day.month != (self.first_day + timedelta(days=6)).month

    @property
    def amount_label(self) -> str:
        return euros(self.amount)


@dataclass
class Forfait:
    """The yearly SAS participation forfait and whether the month meets its conditions."""

    amount_eur: Decimal
    min_weekly_hours: float
    sas_participant: bool
    cpts_name: str  # the CPTS taking part in the SAS the professional belongs to, or ""
    declares_two_hours: bool
    weeks: int = 0
    weeks_meeting_hours: int = 0

    @property
    def registered(self) -> bool:
        return self.sas_participant or bool(self.cpts_name)

    @property
    def hours_met(self) -> bool:
        return self.weeks > 0 and self.weeks_meeting_hours == self.weeks

    @property
    def conditions_met(self) -> bool:
        return self.registered and self.hours_met

    @property
    def amount_label(self) -> str:
        return euros(self.amount_eur)

    @property
    def registration_label(self) -> str:
        if self.sas_participant:
            return "inscrit au SAS"
        if self.cpts_name:
            return f"membre de la {self.cpts_name}, qui participe au SAS"
        return "ni inscrit au SAS ni membre d'une CPTS"

    def summary(self) -> str:
        hours = f"{self.min_weekly_hours:g}".replace(".", ",")
        state = "remplies" if self.conditions_met else "non remplies"
        return (
            f"Forfait annuel de participation au SAS : {self.amount_label} par an, versé par "
            f"l'Assurance Maladie (non compris dans le montant du mois). Conditions : être "
            f"inscrit au SAS ou membre d'une CPTS qui y participe ({self.registration_label}) ; "
            f"ouvrir au moins {hours} h par semaine de son agenda ("
            f"{self.weeks_meeting_hours} semaine{'s' if self.weeks_meeting_hours > 1 else ''} "
            f"sur {self.weeks} ce mois-ci, mesuré sur les créneaux publiés ; déclaration "
            f"« 2 h par semaine » : {'oui' if self.declares_two_hours else 'non'}). "
            f"Ce mois-ci : conditions {state}."
        )


@dataclass
class Statement:
    professional: Professional
    month: date  # first day
    majoration_eur: Decimal
    weekly_cap: int
    forfait: Forfait | None = None
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
    def amount_label(self) -> str:
        return euros(self.amount)

    @property
    def majoration_label(self) -> str:
        return euros(self.majoration_eur)

    @property
    def hours_published(self) -> float:
        return round(sum(w.hours_published for w in self.weeks), 2)

    @property
    def rule(self) -> str:
        return (
            f"Majoration SNP {self.majoration_label} par consultation régulée réalisée, au plus "
            f"{self.weekly_cap} par semaine ISO (du lundi au dimanche, même à cheval sur deux "
            f"mois : les consultations de la semaine sont prises dans l'ordre chronologique)."
        )


def month_bounds(month: date) -> tuple[datetime, datetime]:
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (
        timezone.make_aware(datetime.combine(first, time(0))),
        timezone.make_aware(datetime.combine(following, time(0))),
    )


def _weeks_bounds(month: date) -> tuple[datetime, datetime]:
    """From the Monday of the month's first ISO week to the Monday after its last one."""
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    monday = first - timedelta(days=first.weekday())
    after = last + timedelta(days=7 - last.weekday())
    return (
        timezone.make_aware(datetime.combine(monday, time(0))),
        timezone.make_aware(datetime.combine(after, time(0))),
    )


def _parameter(cpts, name: str, setting: str, default):
    value = getattr(cpts, name, None) if cpts is not None else None
    return value if value is not None else getattr(settings, setting, default)


def _forfait_parameter(cpts, cpts_name: str | None, sas_name: str, setting: str, default):
    """CPTS, then its SAS, then the settings (a SAS sets the forfait for every CPTS of it)."""
    value = getattr(cpts, cpts_name, None) if cpts is not None and cpts_name else None
    if value is None and cpts is not None:
        value = getattr(cpts.sas, sas_name, None)
    return value if value is not None else getattr(settings, setting, default)


def participation_statement(*, professional: Professional, month: date) -> Statement:
    from relais.orientation.models import Booking, BookingKind, BookingStatus

    start, end = month_bounds(month)
    weeks_start, weeks_end = _weeks_bounds(month)
    cpts = professional.cpts
    statement = Statement(
        professional=professional,
        month=month.replace(day=1),
        majoration_eur=Decimal(
            str(
                _parameter(
                    cpts, "majoration_eur", "RELAIS_SNP_MAJORATION_EUR", DEFAULT_MAJORATION_EUR
                )
            )
        ),
        weekly_cap=int(
            _parameter(
                cpts,
                "majoration_weekly_cap",
                "RELAIS_SNP_MAJORATION_WEEKLY_CAP",
                DEFAULT_WEEKLY_CAP,
            )
        ),
    )
    statement.forfait = Forfait(
        amount_eur=Decimal(
            str(
                _forfait_parameter(
                    cpts,
                    "forfait_eur",
                    "forfait_eur",
                    "RELAIS_SAS_FORFAIT_EUR",
                    DEFAULT_FORFAIT_EUR,
                )
            )
        ),  # fmt: skip
        min_weekly_hours=forfait_min_weekly_hours(cpts),  # fmt: skip
        sas_participant=professional.sas_participant,
        cpts_name=cpts.name if cpts is not None and cpts.sas_id else "",
        declares_two_hours=professional.declares_two_hours,
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

    def in_month(moment: datetime) -> bool:
        return start <= moment < end

    # Hours published: each slot (a plage once, whatever its places), closed ones left out;
    # the month's days for the total, the whole ISO week for the forfait's condition.
    intervals = (
        Slot.objects.filter(professional=professional, start__gte=weeks_start, start__lt=weeks_end)
        .exclude(status=SlotStatus.BLOCKED)
        .values_list("start", "end")
        .distinct()
    )
    for slot_start, slot_end in intervals:
        hours = (slot_end - slot_start).total_seconds() / 3600
        week = line(slot_start)
        week.week_hours_published += hours
        if in_month(slot_start):
            week.hours_published += hours

    # Consultations and no-shows of the whole ISO weeks, in time order: the weekly cap is
    # consumed by the week's first consultations, whichever month they fall in.
    bookings = (
        Booking.objects.filter(
            slot__professional=professional,
            slot__start__gte=weeks_start,
            slot__start__lt=weeks_end,
            status__in=[BookingStatus.FULFILLED, BookingStatus.NOSHOW],
        )
        .order_by("slot__start", "pk")
        .values_list("slot__start", "status")
    )
    taken: dict[tuple[int, int], int] = {}
    for slot_start, status in bookings:
        week = line(slot_start)
        key = (week.year, week.week)
        if status != BookingStatus.FULFILLED:
            if in_month(slot_start):
                week.noshows += 1
            continue
        before = taken.get(key, 0)
        taken[key] = before + 1
        if not in_month(slot_start):
            week.other_month_consultations += 1
            if slot_start < start:
                week.cap_taken_before = min(before + 1, statement.weekly_cap)
            continue
        week.consultations += 1
        if before < statement.weekly_cap:
            week.majorations += 1

    for week in weeks.values():
        week.amount = statement.majoration_eur * week.majorations
    forfait = statement.forfait
    forfait.weeks = len(weeks_in_month(month))
    forfait.weeks_meeting_hours = sum(
        1
        for key in weeks_in_month(month)
        if key in weeks and weeks[key].week_hours_published >= forfait.min_weekly_hours - 1e-9
    )
    statement.weeks = [
        weeks[k]
        for k in sorted(weeks)
        if weeks[k].consultations or weeks[k].noshows or weeks[k].hours_published
    ]
    return statement


def weeks_in_month(month: date) -> list[tuple[int, int]]:
    """The (ISO year, ISO week) of every week holding at least one day of the month."""
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    keys, day = [], first - timedelta(days=first.weekday())
    while day <= last:
        year, week, _ = day.isocalendar()
        keys.append((year, week))
        day += timedelta(days=7)
    return keys


def _week_label(w: WeekLine) -> str:
    label = f"{w.year}-S{w.week:02d} (lundi {w.first_day:%d/%m})"
    if w.other_month_consultations:
        label += f", {w.other_month_consultations} consultation(s) l'autre mois"
    return label


def statement_tables(statement: Statement):
    """The statement as tables (for the PDF, through the indicators' report builder)."""
    from relais.indicators.tables import DataTable

    weeks = DataTable(
        "semaines",
        "Par semaine",
        ["Semaine", "Consultations SNP", "Non venus", "Majorations", "Montant", "Heures"],
        [
            [
                _week_label(w),
                w.consultations,
                w.noshows,
                w.majorations,
                w.amount_label,
                round(w.hours_published, 2),
            ]
            for w in statement.weeks
        ]
        + [
            [
                "Total du mois",
                statement.consultations,
                statement.noshows,
                statement.majorations,
                statement.amount_label,
                statement.hours_published,
            ]
        ],
        note=statement.rule,
    )
    others = DataTable(
        "hors_creneaux",
        "Patients pris en charge hors créneaux publiés",
        ["Type", "Patients"],
        [["Surnuméraire", statement.surnumeraire], ["Niveau 2 CPTS", statement.level2]],
    )
    tables = [weeks, others]
    if statement.forfait is not None:
        tables.append(
            DataTable(
                "forfait",
                "Forfait de participation au SAS",
                ["Condition", "Ce mois-ci"],
                [
                    ["Montant annuel", statement.forfait.amount_label],
                    [
                        "Inscrit au SAS ou membre d'une CPTS qui y participe",
                        "oui" if statement.forfait.registered else "non",
                    ],
                    [
                        f"Semaines avec au moins {statement.forfait.min_weekly_hours:g} h publiées",
                        f"{statement.forfait.weeks_meeting_hours} sur {statement.forfait.weeks}",
                    ],
                    ["Conditions remplies", "oui" if statement.forfait.conditions_met else "non"],
                ],
                note=statement.forfait.summary(),
            )
        )
    return tables


CSV_COLUMNS = [
    "semaine",
    "lundi",
    "consultations SNP",
    "non venus",
    "majorations",
    "montant (€)",
    "heures publiées",
    "consultations de la même semaine l'autre mois",
]


def statement_csv(statement: Statement) -> bytes:
    """The statement for a French spreadsheet: UTF-8 with a BOM, `;`, decimal comma, dates
    dd/mm/yyyy, every cell formula-safe (relais.core.csv_safety)."""
    out = io.StringIO()
    out.write(CSV_BOM)
    writer = safe_writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for w in statement.weeks:
        writer.writerow(
            [
                f"{w.year}-S{w.week:02d}",
                f"{w.first_day:%d/%m/%Y}",
                w.consultations,
                w.noshows,
                w.majorations,
                decimal_comma(w.amount),
                decimal_comma(w.hours_published),
                w.other_month_consultations,
            ]
        )
    writer.writerow(
        [
            "total",
            "",
            statement.consultations,
            statement.noshows,
            statement.majorations,
            decimal_comma(statement.amount),
            decimal_comma(statement.hours_published),
            "",
        ]
    )
    return out.getvalue().encode("utf-8")


def majorations_due(
    consultations: list[datetime], *, cap: int, lower: datetime, upper: datetime
) -> int:
    """Majorations due for the consultations starting in [lower, upper), by the statement's
    rule: per ISO week (Paris dates), the week's consultations in time order, the first
    `cap` of them only, whichever period they fall in. `consultations`: every fulfilled
    consultation of the weeks touching the period (those outside it consume the cap)."""
    taken: dict[tuple[int, int], int] = {}
    due = 0
    for moment in sorted(consultations):
        year, week, _ = timezone.localdate(moment).isocalendar()
        before = taken.get((year, week), 0)
        taken[(year, week)] = before + 1
        if lower <= moment < upper and before < cap:
            due += 1
    return due


def forfait_min_weekly_hours(professional_cpts) -> float:
    """Hours to publish every ISO week for the forfait: the CPTS's SAS's, else the settings."""
    return float(
        _forfait_parameter(
            professional_cpts,
            None,
            "forfait_min_weekly_hours",
            "RELAIS_SAS_FORFAIT_MIN_WEEKLY_HOURS",
            DEFAULT_FORFAIT_MIN_WEEKLY_HOURS,
        )
    )


def weekly_parameters(professional_cpts) -> tuple[Decimal, int]:
    """(amount, weekly cap) of the majoration for a professional of this CPTS (or None)."""
    amount = _parameter(
        professional_cpts, "majoration_eur", "RELAIS_SNP_MAJORATION_EUR", DEFAULT_MAJORATION_EUR
    )
    cap = _parameter(
        professional_cpts,
        "majoration_weekly_cap",
        "RELAIS_SNP_MAJORATION_WEEKLY_CAP",
        DEFAULT_WEEKLY_CAP,
    )
    return Decimal(str(amount)), int(cap)
