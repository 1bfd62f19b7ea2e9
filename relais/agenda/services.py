"""Writes for the agenda: availability rules, absences, one-off slots, materialisation.

Every write validates first and raises `ApplicationError` (French) before touching
the database, then changes rows and re-materialises the professional's slots in the
same transaction: a refused change leaves everything as it was.

Materialisation never touches a booked or held slot: only free slots produced by a
rule are created, updated, removed (or blocked, when a cancelled booking still
points at them).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from relais.agenda import recurrence
from relais.agenda.models import (
    LOCAL_SOURCES,
    AvailabilityException,
    AvailabilityRule,
    CalendarFeed,
    ExceptionKind,
    Modality,
    Slot,
    SlotStatus,
)
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError
from relais.directory.models import Practice, Professional

DEFAULT_HORIZON_DAYS = 14
MAX_HORIZON_DAYS = 90
MAX_AGE = 120
MAX_EXCEPTION_DAYS = 366
MAX_ONE_OFF_MINUTES = 12 * 60
CHANNEL_FIELDS = ("for_sas", "for_cpts", "for_public", "for_partners")
# Attributes a rule gives its free slots; refreshed when the rule changes.
RULE_SLOT_FIELDS = (
    "rule",
    "practice",
    "modality",
    *CHANNEL_FIELDS,
    "is_plage",
    "pdsa",
    "age_min",
    "age_max",
)
# The same, as read with values_list() and compared with `_slot_attrs`.
COMPARED_FIELDS = (
    "practice_id",
    "modality",
    *CHANNEL_FIELDS,
    "is_plage",
    "pdsa",
    "age_min",
    "age_max",
)
WEEKDAY_NAMES = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
ONE_OFF_SOURCE, ICS_SOURCE = LOCAL_SOURCES[1:]


# --- rules -----------------------------------------------------------------------


@dataclass
class RuleInput:
    """What a professional sets on a weekly rule (forms and API build one)."""

    practice: Practice
    weekdays: list[int]
    start_time: time
    end_time: time
    slot_minutes: int | None = 20
    capacity: int = 1
    modality: str = Modality.CABINET
    for_sas: bool = True
    for_cpts: bool = True
    for_public: bool = False
    for_partners: bool = False
    motifs: list = field(default_factory=list)
    age_min: int | None = None
    age_max: int | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    skip_public_holidays: bool = True

    def weekly_rule(self) -> recurrence.WeeklyRule:
        return recurrence.WeeklyRule(
            weekdays=frozenset(self.weekdays),
            start_time=self.start_time,
            end_time=self.end_time,
            slot_minutes=self.slot_minutes,
            capacity=self.capacity,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            skip_public_holidays=self.skip_public_holidays,
        )


def weekly_rule_of(rule: AvailabilityRule) -> recurrence.WeeklyRule:
    return recurrence.WeeklyRule(
        weekdays=frozenset(rule.weekdays),
        start_time=rule.start_time,
        end_time=rule.end_time,
        slot_minutes=rule.slot_minutes,
        capacity=rule.capacity,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        skip_public_holidays=rule.skip_public_holidays,
    )


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _end_minutes(t: time) -> int:
    return 24 * 60 if t == recurrence.MIDNIGHT else _minutes(t)


def _rules_overlap(a: recurrence.WeeklyRule, b: recurrence.WeeklyRule) -> bool:
    if not a.weekdays & b.weekdays:
        return False
    if not (
        _minutes(a.start_time) < _end_minutes(b.end_time)
        and _minutes(b.start_time) < _end_minutes(a.end_time)
    ):
        return False
    a_from, b_from = a.valid_from or date.min, b.valid_from or date.min
    a_until, b_until = a.valid_until or date.max, b.valid_until or date.max
    return a_from <= b_until and b_from <= a_until


def _describe(rule: AvailabilityRule) -> str:
    days = ", ".join(WEEKDAY_NAMES[d] for d in sorted(rule.weekdays))
    end = "24:00" if rule.end_time == recurrence.MIDNIGHT else f"{rule.end_time:%H:%M}"
    return f"{days} {rule.start_time:%H:%M}–{end}"


def rule_validate(
    *,
    professional: Professional,
    data: RuleInput,
    exclude: AvailabilityRule | None = None,
    today: date | None = None,
) -> list[str]:
    """French messages, empty when the rule can be saved."""
    today = today or timezone.localdate()
    errors: list[str] = []
    weekdays = list(data.weekdays)
    if len(set(weekdays)) != len(weekdays):
        errors.append("Un jour de la semaine est répété.")
    errors.extend(recurrence.validate_rule(data.weekly_rule()))
    if data.practice is None or not professional.practices.filter(pk=data.practice.pk).exists():
        errors.append("Choisissez l'un de vos lieux d'exercice.")
    if data.modality not in Modality.values:
        errors.append("Modalité inconnue.")
    if not any(getattr(data, name) for name in CHANNEL_FIELDS):
        errors.append(
            "Choisissez au moins un canal (SAS, CPTS, en ligne ou logiciels partenaires) : "
            "sinon ces créneaux ne seraient proposés à personne."
        )
    for label, value in (("minimum", data.age_min), ("maximum", data.age_max)):
        if value is not None and not 0 <= value <= MAX_AGE:
            errors.append(f"L'âge {label} doit être compris entre 0 et {MAX_AGE} ans.")
    if data.age_min is not None and data.age_max is not None and data.age_min > data.age_max:
        errors.append(
            f"L'âge minimum ({data.age_min} ans) dépasse l'âge maximum ({data.age_max} ans)."
        )
    if data.valid_until is not None and data.valid_until < today:
        errors.append(
            f"La fin de validité ({data.valid_until:%d/%m/%Y}) est déjà passée : "
            "supprimez plutôt la règle."
        )
    if exclude is None and data.valid_from is not None and data.valid_from < today:
        errors.append(f"Le début de validité ({data.valid_from:%d/%m/%Y}) est déjà passé.")
    if not errors:
        candidate = data.weekly_rule()
        others = AvailabilityRule.objects.filter(professional=professional)
        if exclude is not None:
            others = others.exclude(pk=exclude.pk)
        for other in others:
            if _rules_overlap(candidate, weekly_rule_of(other)):
                errors.append(
                    f"Cette règle chevauche une autre de vos règles ({_describe(other)})."
                )
    return errors


def _lock(*professional_ids: int) -> None:
    """Serialise writes to the agendas of these professionals (a no-op on SQLite)."""
    list(
        Professional.objects.select_for_update()
        .filter(pk__in=professional_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _raise_if(errors: list[str]) -> None:
    if errors:
        raise ApplicationError(" ".join(errors), code="invalid_availability")


def _apply(rule: AvailabilityRule, data: RuleInput) -> None:
    rule.practice = data.practice
    rule.weekdays = sorted(set(data.weekdays))
    rule.start_time = data.start_time
    rule.end_time = data.end_time
    rule.slot_minutes = data.slot_minutes
    rule.capacity = data.capacity
    rule.modality = data.modality
    for name in CHANNEL_FIELDS:
        setattr(rule, name, getattr(data, name))
    rule.age_min = data.age_min
    rule.age_max = data.age_max
    rule.valid_from = data.valid_from
    rule.valid_until = data.valid_until
    rule.skip_public_holidays = data.skip_public_holidays


def rule_create(
    *, professional: Professional, data: RuleInput, actor=None, now: datetime | None = None
) -> AvailabilityRule:
    now = now or timezone.now()
    with transaction.atomic():
        # Validate under the professional's row lock: two concurrent saves cannot both
        # pass the overlap check (no check-then-insert race).
        _lock(professional.pk)
        _raise_if(
            rule_validate(professional=professional, data=data, today=timezone.localdate(now))
        )
        rule = AvailabilityRule(professional=professional)
        _apply(rule, data)
        rule.save()
        rule.motifs.set(data.motifs)
        audit_record(user=actor, action="create", obj=rule)
        slots_materialise(professional=professional, now=now)
    return rule


def rule_update(
    *, rule: AvailabilityRule, data: RuleInput, actor=None, now: datetime | None = None
) -> AvailabilityRule:
    now = now or timezone.now()
    with transaction.atomic():
        _lock(rule.professional_id)
        _raise_if(
            rule_validate(
                professional=rule.professional,
                data=data,
                exclude=rule,
                today=timezone.localdate(now),
            )
        )
        _apply(rule, data)
        rule.save()
        rule.motifs.set(data.motifs)
        audit_record(user=actor, action="update", obj=rule)
        slots_materialise(professional=rule.professional, now=now)
    return rule


def rule_delete(*, rule: AvailabilityRule, actor=None, now: datetime | None = None) -> int:
    """Delete a rule and its future free slots; booked slots stay (and are listed).

    Returns the number of future booked or held slots the rule leaves behind.
    """
    now = now or timezone.now()
    with transaction.atomic():
        future = Slot.objects.filter(rule=rule, start__gte=now)
        _remove_free(list(future.filter(status=SlotStatus.FREE).values_list("pk", flat=True)))
        kept = future.filter(status__in=[SlotStatus.BOOKED, SlotStatus.HELD]).count()
        audit_record(user=actor, action="delete", obj=rule)
        rule.delete()
    return kept


def rule_publication_report(
    *, rule: AvailabilityRule, now: datetime | None = None, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> str:
    """What saving `rule` published, in French: how many slots over the horizon, and why
    occurrences were left out (absences, slots already there); with none, why none."""
    now = now or timezone.now()
    first_day = timezone.localdate(now)
    last_day = first_day + timedelta(days=horizon_days - 1)
    published = (
        Slot.objects.filter(rule=rule, start__gte=now).exclude(status=SlotStatus.BLOCKED).count()
    )
    occurrences = recurrence.expand_many(
        [weekly_rule_of(rule)], start=first_day, days=horizon_days, not_before=now
    )
    places = sum(o.capacity for o in occurrences)
    absences = [
        (e.start, e.end)
        for e in AvailabilityException.objects.filter(
            professional_id=rule.professional_id, end__gt=now
        )
    ]
    in_absence = sum(
        o.capacity for o in occurrences if any(s < o.end and o.start < e for s, e in absences)
    )
    others = max(places - in_absence - published, 0)
    until = f"d'ici le {last_day:%d/%m/%Y}"
    if published:
        text = f"{published} créneau(x) publié(s) {until}."
    elif rule.valid_from and rule.valid_from > last_day:
        return (
            f"aucun créneau publié pour l'instant : la règle commence le "
            f"{rule.valid_from:%d/%m/%Y}, après l'horizon de {horizon_days} jours ; ses "
            "créneaux apparaîtront au fil des jours."
        )
    elif not occurrences:
        return (
            f"aucun créneau publié {until} : aucun des jours choisis ne tombe dans la "
            "période de validité (ou ce sont des jours fériés)."
        )
    else:
        text = f"aucun créneau publié {until}."
    skipped = []
    if in_absence:
        skipped.append(f"{in_absence} pendant une absence")
    if others:
        skipped.append(f"{others} à une heure déjà occupée par un autre créneau")
    if skipped:
        text += " Non publiés : " + ", ".join(skipped) + "."
    return text


def rule_stranded_bookings(*, rule: AvailabilityRule, now: datetime | None = None) -> list:
    """Future bookings on slots of `rule` that the rule no longer produces (a day or an
    hour removed): kept, never cancelled silently, listed for the professional."""
    from relais.orientation.models import Booking, BookingStatus

    now = now or timezone.now()
    occurrences = recurrence.expand_many(
        [weekly_rule_of(rule)], start=timezone.localdate(now), days=MAX_HORIZON_DAYS
    )
    starts = {o.start for o in occurrences}
    return [
        b
        for b in Booking.objects.filter(
            slot__rule=rule, status=BookingStatus.BOOKED, slot__start__gte=now
        )
        .select_related("slot", "request__patient")
        .order_by("slot__start")
        if b.slot.start not in starts
    ]


def bookings_label(bookings) -> str:
    """« 03/12 10:00 DURAND Lucie, … » for a warning on the professional's own page."""
    return ", ".join(
        f"{timezone.localtime(b.slot.start):%d/%m %H:%M} {b.request.patient}" for b in bookings
    )


# --- absences ----------------------------------------------------------------------


def exception_create(
    *,
    professional: Professional,
    start: datetime,
    end: datetime,
    kind: str = ExceptionKind.VACATION,
    label: str = "",
    actor=None,
    now: datetime | None = None,
) -> AvailabilityException:
    """Record an absence: free slots in it disappear; booked ones are counted in
    `booked_inside` on the returned object for the page to warn (never cancelled
    silently: the professional cancels them one by one)."""
    now = now or timezone.now()
    errors = []
    if kind not in ExceptionKind.values:
        errors.append("Type d'absence inconnu.")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("aware datetimes only")
    if end <= start:
        errors.append("La fin de l'absence doit être postérieure à son début.")
    elif end <= now:
        errors.append("Cette absence est entièrement passée.")
    elif end - start > timedelta(days=MAX_EXCEPTION_DAYS):
        errors.append(f"Une absence dure au plus {MAX_EXCEPTION_DAYS} jours.")
    _raise_if(errors)
    with transaction.atomic():
        # Checked under the professional's row lock: a double tap cannot record it twice.
        _lock(professional.pk)
        overlapping = (
            AvailabilityException.objects.filter(
                professional=professional, start__lt=end, end__gt=start
            )
            .order_by("start")
            .first()
        )
        if overlapping is not None:
            raise ApplicationError(
                f"Une absence est déjà enregistrée sur cette période "
                f"({exception_period_label(overlapping)}) : modifiez-la ou supprimez-la "
                "plutôt que d'en ajouter une autre.",
                code="absence_overlap",
            )
        exception = AvailabilityException.objects.create(
            professional=professional, kind=kind, start=start, end=end, label=label[:100]
        )
        # One-off slots (no rule) are not the materialiser's: close them here.
        Slot.objects.filter(
            professional=professional,
            rule__isnull=True,
            status=SlotStatus.FREE,
            start__lt=end,
            end__gt=start,
        ).update(status=SlotStatus.BLOCKED)
        audit_record(user=actor, action="create", obj=exception)
        slots_materialise(professional=professional, now=now)
        exception.booked_inside = Slot.objects.filter(
            professional=professional,
            status__in=[SlotStatus.BOOKED, SlotStatus.HELD],
            start__lt=end,
            end__gt=max(start, now),
        ).count()
    return exception


def exception_period_label(exception: AvailabilityException) -> str:
    """An absence as the professional entered it: a whole-day end (midnight) is shown as
    the last day included, not as "00:00" of the day after."""
    start = timezone.localtime(exception.start)
    end = timezone.localtime(exception.end)
    whole_days = start.time() == time(0) and end.time() == time(0)
    if whole_days:
        last = end.date() - timedelta(days=1)
        if last == start.date():
            return f"le {start:%d/%m/%Y}"
        return f"du {start:%d/%m/%Y} au {last:%d/%m/%Y} inclus"
    if end.time() == time(0):
        last = end.date() - timedelta(days=1)
        return f"du {start:%d/%m/%Y %H:%M} au {last:%d/%m/%Y} inclus"
    return f"du {start:%d/%m/%Y %H:%M} au {end:%d/%m/%Y %H:%M}"


def exception_delete(
    *, exception: AvailabilityException, actor=None, now: datetime | None = None
) -> None:
    with transaction.atomic():
        professional = exception.professional
        audit_record(user=actor, action="delete", obj=exception)
        exception.delete()
        slots_materialise(professional=professional, now=now)


# --- single slots --------------------------------------------------------------------


def slot_block(*, slot: Slot, actor=None) -> Slot:
    """Close a free slot; the materialiser will not bring it back."""
    with transaction.atomic():
        changed = Slot.objects.filter(pk=slot.pk, status=SlotStatus.FREE).update(
            status=SlotStatus.BLOCKED
        )
        if not changed:
            raise ApplicationError(
                "Ce créneau n'est plus libre : rechargez la page.", code="slot_not_free"
            )
        audit_record(user=actor, action="update", obj=slot, reason="fermé")
    slot.status = SlotStatus.BLOCKED
    return slot


def slot_cancel_booking(*, slot: Slot, actor=None, reason: str = ""):
    """The professional cancels a booked slot: the booking is cancelled (the request
    goes back to the operators' worklist), the patient is told by SMS, and the slot
    is closed rather than offered again."""
    from relais.orientation.models import BookingStatus
    from relais.orientation.services import booking_cancel

    booking = (
        slot.bookings.filter(status=BookingStatus.BOOKED)
        .select_related("request__patient", "slot__professional")
        .first()
    )
    if booking is None:
        raise ApplicationError("Aucun rendez-vous à annuler sur ce créneau.", code="no_booking")
    with transaction.atomic():
        booking_cancel(
            booking=booking,
            actor=actor,
            reason=reason or "annulé par le professionnel",
        )
        Slot.objects.filter(pk=slot.pk, status=SlotStatus.FREE).update(status=SlotStatus.BLOCKED)
        # The patient's messages are written by booking_cancel (every cancellation).
    return booking


@dataclass
class OneOff:
    start: datetime
    end: datetime
    uid: str = ""


def one_off_validate(*, professional: Professional, items: list[OneOff], now: datetime) -> list:
    errors = []
    for item in items:
        when = f"{timezone.localtime(item.start):%d/%m/%Y %H:%M}"
        if item.end <= item.start:
            errors.append(f"Créneau du {when} : la fin précède le début.")
        elif item.end - item.start < timedelta(minutes=recurrence.MIN_SLOT_MINUTES):
            errors.append(f"Créneau du {when} : moins de {recurrence.MIN_SLOT_MINUTES} minutes.")
        elif item.end - item.start > timedelta(minutes=MAX_ONE_OFF_MINUTES):
            errors.append(f"Créneau du {when} : plus de {MAX_ONE_OFF_MINUTES // 60} heures.")
        elif item.start <= now:
            errors.append(f"Créneau du {when} : déjà passé.")
    return errors


@dataclass
class OneOffResult:
    created: int = 0
    skipped_past: int = 0
    skipped_taken: int = 0


def slots_create_one_off(
    *,
    professional: Professional,
    practice: Practice,
    items: list[OneOff],
    modality: str = Modality.CABINET,
    channels: Iterable[str] = ("for_sas", "for_cpts"),
    source: str = ONE_OFF_SOURCE,
    skip_past: bool = False,
    actor=None,
    now: datetime | None = None,
) -> OneOffResult:
    """One-off slots (a form or an .ics import). All or nothing on invalid input;
    slots overlapping one already there (or repeating an imported UID) are skipped."""
    from relais.territory.hours import is_pdsa

    now = now or timezone.now()
    result = OneOffResult()
    if skip_past:
        result.skipped_past = sum(1 for i in items if i.end > i.start and i.start <= now)
        items = [i for i in items if not (i.end > i.start and i.start <= now)]
    errors = one_off_validate(professional=professional, items=items, now=now)
    if practice is None or not professional.practices.filter(pk=practice.pk).exists():
        errors.append("Choisissez l'un de vos lieux d'exercice.")
    if modality not in Modality.values:
        errors.append("Modalité inconnue.")
    channels = set(channels)
    if not channels or not channels <= set(CHANNEL_FIELDS):
        errors.append("Choisissez au moins un canal.")
    if not items and not errors and not result.skipped_past:
        errors.append("Aucun créneau à ajouter.")
    _raise_if(errors)
    with transaction.atomic():
        # Lock the professional's row so that two imports do not interleave.
        _lock(professional.pk)
        existing = list(
            Slot.objects.filter(professional=professional, end__gt=now)
            .exclude(status=SlotStatus.BLOCKED)
            .values_list("start", "end", "external_id")
        )
        taken = [(s, e) for s, e, _ in existing]
        uids = {x for _, _, x in existing if x}
        new = []
        for item in sorted(items, key=lambda i: i.start):
            if (item.uid and item.uid in uids) or any(
                s < item.end and item.start < e for s, e in taken
            ):
                result.skipped_taken += 1
                continue
            taken.append((item.start, item.end))
            new.append(
                Slot(
                    professional=professional,
                    practice=practice,
                    start=item.start,
                    end=item.end,
                    modality=modality,
                    pdsa=is_pdsa(item.start),
                    source=source,
                    external_id=item.uid[:100],
                    **{name: name in channels for name in CHANNEL_FIELDS},
                )
            )
        Slot.objects.bulk_create(new)
        result.created = len(new)
        audit_record(
            user=actor,
            action="create",
            obj=professional,
            reason=f"{len(new)} créneau(x) ponctuel(s) ({source})",
        )
    return result


# --- materialisation ---------------------------------------------------------------------


@dataclass
class MaterialiseResult:
    professionals: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0

    def __add__(self, other: MaterialiseResult) -> MaterialiseResult:
        return MaterialiseResult(
            self.professionals + other.professionals,
            self.created + other.created,
            self.updated + other.updated,
            self.removed + other.removed,
        )


def _remove_free(ids: list[int]) -> int:
    """Delete free slots; block (and detach) those a cancelled booking still points at.

    Conditional on status=free: a slot booked meanwhile is left alone.
    """
    if not ids:
        return 0
    free = Slot.objects.filter(pk__in=ids, status=SlotStatus.FREE)
    deleted, _ = free.filter(bookings__isnull=True).delete()
    blocked = free.update(status=SlotStatus.BLOCKED, rule=None)
    return deleted + blocked


def slots_materialise(
    *,
    professional: Professional | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    now: datetime | None = None,
    batch_size: int = 200,
) -> MaterialiseResult:
    """Make the slots produced by availability rules match the rules over
    [today, today + horizon_days) in Paris dates, from `now` on. Idempotent.

    - creates the missing free slots (one row per place of a plage);
    - refreshes the attributes (channels, modality, ages, PDSA) of free ones;
    - removes free rule slots no longer produced (rule changed, absence added);
    - never touches booked or held slots, nor slots a professional closed
      (status blocked with their rule), nor one-off and partner slots; a new
      slot overlapping any of those is not created.
    """
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise ApplicationError(f"L'horizon doit être compris entre 1 et {MAX_HORIZON_DAYS} jours.")
    now = now or timezone.now()
    if professional is not None:
        return _materialise_batch([professional.pk], horizon_days, now)
    ids = list(
        AvailabilityRule.objects.values_list("professional_id", flat=True)
        .distinct()
        .order_by("professional_id")
    )
    # Professionals whose last rule went away still have free slots to clean up.
    ids = sorted(
        set(ids)
        | set(
            Slot.objects.filter(rule__isnull=False, status=SlotStatus.FREE, start__gte=now)
            .values_list("professional_id", flat=True)
            .distinct()
        )
    )
    total = MaterialiseResult()
    for i in range(0, len(ids), batch_size):
        total = total + _materialise_batch(ids[i : i + batch_size], horizon_days, now)
    return total


def _materialise_batch(pro_ids: list[int], horizon_days: int, now: datetime) -> MaterialiseResult:
    # Read and write under the professionals' row locks, so that a rule change, an
    # import or another run cannot interleave between what was read and what is written.
    with transaction.atomic():
        _lock(*pro_ids)
        return _materialise_locked(pro_ids, horizon_days, now)


def _materialise_locked(pro_ids: list[int], horizon_days: int, now: datetime) -> MaterialiseResult:
    first_day = timezone.localdate(now)
    window_end = timezone.make_aware(
        datetime.combine(first_day + timedelta(days=horizon_days), time(0))
    )
    rules_by_pro: dict[int, list[AvailabilityRule]] = defaultdict(list)
    for rule in AvailabilityRule.objects.filter(professional_id__in=pro_ids).order_by("pk"):
        rules_by_pro[rule.professional_id].append(rule)
    exceptions_by_pro: dict[int, list[recurrence.Period]] = defaultdict(list)
    for exc in AvailabilityException.objects.filter(
        professional_id__in=pro_ids, end__gt=now, start__lt=window_end
    ):
        exceptions_by_pro[exc.professional_id].append(recurrence.Period(exc.start, exc.end))
    existing_by_pro: dict[int, list[tuple]] = defaultdict(list)
    for row in Slot.objects.filter(
        professional_id__in=pro_ids, start__gte=now, start__lt=window_end
    ).values_list(
        "pk",
        "professional_id",
        "start",
        "end",
        "place",
        "status",
        "rule_id",
        *COMPARED_FIELDS,
    ):
        existing_by_pro[row[1]].append(row)

    to_create: list[Slot] = []
    to_update: list[Slot] = []
    to_remove: list[int] = []
    for pro_id in pro_ids:
        rules = rules_by_pro.get(pro_id, [])
        occurrences = (
            recurrence.expand_many(
                [weekly_rule_of(r) for r in rules],
                start=first_day,
                days=horizon_days,
                exceptions=exceptions_by_pro.get(pro_id, ()),
                not_before=now,
            )
            if rules
            else []
        )
        wanted: dict[tuple, tuple] = {}
        for occ in occurrences:
            rule = rules[occ.rule_index]
            for place in range(occ.capacity):
                wanted[(occ.start, place)] = (occ, rule)

        present: set[tuple] = set()
        fixed: list[tuple[datetime, datetime]] = []  # intervals new slots must not overlap
        for pk, _, start, end, place, status, rule_id, *attrs in existing_by_pro.get(pro_id, []):
            key = (start, place)
            match = wanted.get(key)
            if rule_id is None:
                if status != SlotStatus.BLOCKED:
                    fixed.append((start, end))
                continue
            if status == SlotStatus.FREE:
                if match is None or match[0].end != end:
                    to_remove.append(pk)
                    continue
                present.add(key)
                occ, rule = match
                target = _slot_attrs(rule, occ)
                if tuple(attrs) != tuple(target[name] for name in COMPARED_FIELDS) or (
                    rule_id != rule.pk
                ):
                    slot = Slot(pk=pk, **target)
                    to_update.append(slot)
            else:
                # Booked, held, or closed by the professional: left as it is.
                present.add(key)
                if status != SlotStatus.BLOCKED:
                    fixed.append((start, end))

        for (start, place), (occ, rule) in wanted.items():
            if (start, place) in present:
                continue
            if any(s < occ.end and occ.start < e for s, e in fixed):
                continue
            to_create.append(
                Slot(
                    professional_id=pro_id,
                    start=occ.start,
                    end=occ.end,
                    place=place,
                    status=SlotStatus.FREE,
                    **_slot_attrs(rule, occ),
                )
            )

    result = MaterialiseResult(professionals=len(pro_ids))
    with transaction.atomic():
        result.removed = _remove_free(to_remove)
        if to_update:
            # Only still-free rows: a slot booked meanwhile keeps what it was booked with.
            still_free = set(
                Slot.objects.filter(
                    pk__in=[s.pk for s in to_update], status=SlotStatus.FREE
                ).values_list("pk", flat=True)
            )
            to_update = [s for s in to_update if s.pk in still_free]
            Slot.objects.bulk_update(to_update, RULE_SLOT_FIELDS, batch_size=500)
            result.updated = len(to_update)
        # ignore_conflicts: a concurrent run may have created the same (professional,
        # start, place) row; the partial unique constraint keeps one.
        Slot.objects.bulk_create(to_create, batch_size=1000, ignore_conflicts=True)
        result.created = len(to_create)
    return result


def _slot_attrs(rule: AvailabilityRule, occ: recurrence.Occurrence) -> dict:
    return {
        "rule": rule,
        "practice_id": rule.practice_id,
        "modality": rule.modality,
        "for_sas": rule.for_sas,
        "for_cpts": rule.for_cpts,
        "for_public": rule.for_public,
        "for_partners": rule.for_partners,
        "is_plage": occ.is_plage,
        "pdsa": occ.pdsa,
        "age_min": rule.age_min,
        "age_max": rule.age_max,
    }


# --- iCal feed ---------------------------------------------------------------------------


def _feed_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def calendar_feed_renew(*, professional: Professional, actor=None) -> str:
    """A new private feed token (the old URL stops working); shown once, stored hashed."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        CalendarFeed.objects.update_or_create(
            professional=professional, defaults={"token_hash": _feed_hash(token)}
        )
        audit_record(user=actor, action="update", obj=professional, reason="flux iCal renouvelé")
    return token


def calendar_feed_revoke(*, professional: Professional, actor=None) -> None:
    with transaction.atomic():
        CalendarFeed.objects.filter(professional=professional).delete()
        audit_record(user=actor, action="update", obj=professional, reason="flux iCal révoqué")


def calendar_feed_professional(*, token: str) -> Professional | None:
    feed = (
        CalendarFeed.objects.select_related("professional")
        .filter(token_hash=_feed_hash(token))
        .first()
    )
    return feed.professional if feed else None
