"""Reads for the agenda."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Prefetch, Q
from django.http import Http404
from django.utils import timezone

from relais.accounts.models import Role
from relais.accounts.permissions import scope_for
from relais.agenda.models import AvailabilityException, AvailabilityRule, Slot, SlotStatus
from relais.directory.models import Professional


def slot_get(*, public_id) -> Slot | None:
    """A slot by public id, for booking. Bookability is decided atomically by the
    booking service, never here."""
    return (
        Slot.objects.select_related("professional", "practice__commune")
        .filter(public_id=public_id)
        .first()
    )


# --- the professional's agenda pages ---------------------------------------------------


def agenda_professionals_for(*, user) -> list[Professional]:
    """Professionals whose agenda `user` manages: their own (effecteur) and those who
    delegated it to them (délégataire)."""
    scope = scope_for(user)
    if not scope.can("agenda.manage"):
        return []
    condition = Q(pk__in=[])
    if scope.professional_id and Role.EFFECTEUR in scope.roles:
        condition |= Q(pk=scope.professional_id)
    if Role.DELEGATAIRE in scope.roles:
        condition |= Q(delegations__delegate=user)
    return list(
        Professional.objects.filter(condition, active=True)
        .prefetch_related("practices__commune")
        .distinct()
    )


def professional_for_agenda(*, user, public_id) -> Professional:
    """The professional whose agenda `user` may manage, else 404 (never 403: no leak)."""
    for professional in agenda_professionals_for(user=user):
        if str(professional.public_id) == str(public_id):
            return professional
    raise Http404("Agenda introuvable.")


def rules_of(*, professional: Professional) -> list[AvailabilityRule]:
    return list(
        AvailabilityRule.objects.filter(professional=professional)
        .select_related("practice__commune")
        .prefetch_related("motifs")
    )


def rule_get(*, professional: Professional, public_id) -> AvailabilityRule:
    rule = (
        AvailabilityRule.objects.filter(professional=professional, public_id=public_id)
        .select_related("practice", "professional")
        .prefetch_related("motifs")
        .first()
    )
    if rule is None:
        raise Http404("Règle introuvable.")
    return rule


def exceptions_of(*, professional: Professional, now: datetime | None = None):
    now = now or timezone.now()
    return list(
        AvailabilityException.objects.filter(professional=professional, end__gt=now).order_by(
            "start"
        )
    )


def exception_get(*, professional: Professional, public_id) -> AvailabilityException:
    exception = AvailabilityException.objects.filter(
        professional=professional, public_id=public_id
    ).first()
    if exception is None:
        raise Http404("Absence introuvable.")
    return exception


def slot_get_for_professional(*, professional: Professional, public_id) -> Slot:
    slot = (
        Slot.objects.filter(professional=professional, public_id=public_id)
        .select_related("professional", "practice")
        .first()
    )
    if slot is None:
        raise Http404("Créneau introuvable.")
    return slot


@dataclass
class DayAgenda:
    day: date
    slots: list


def upcoming_slots(
    *, professional: Professional, now: datetime | None = None, days: int = 7, week: int = 0
) -> list[DayAgenda]:
    """`days` days of a professional's SNP slots (closed ones left out) from today plus
    `week` weeks, by local day, each slot with `active_booking` set (or None)."""
    from relais.orientation.models import ACTIVE_BOOKING_STATUSES, Booking

    now = now or timezone.now()
    today = timezone.localdate(now) + timedelta(days=7 * week)
    start = timezone.make_aware(datetime.combine(today, time(0)))
    end = timezone.make_aware(datetime.combine(today + timedelta(days=days), time(0)))
    slots = list(
        Slot.objects.filter(professional=professional, start__gte=start, start__lt=end)
        .exclude(status=SlotStatus.BLOCKED)
        .select_related("practice")
        .prefetch_related(
            Prefetch(
                "bookings",
                queryset=Booking.objects.filter(status__in=ACTIVE_BOOKING_STATUSES).select_related(
                    "request__patient", "request__motif"
                ),
                to_attr="active_bookings",
            )
        )
        .order_by("start", "place")
    )
    by_day: dict[date, list] = {}
    for slot in slots:
        slot.active_booking = slot.active_bookings[0] if slot.active_bookings else None
        slot.is_past = slot.start <= now
        by_day.setdefault(timezone.localdate(slot.start), []).append(slot)
    return [DayAgenda(day, by_day[day]) for day in sorted(by_day)]


def last_slot_day(*, professional: Professional, now: datetime | None = None) -> date | None:
    """The local day of the professional's last open slot ahead (the horizon shown)."""
    now = now or timezone.now()
    last = (
        Slot.objects.filter(professional=professional, start__gte=now)
        .exclude(status=SlotStatus.BLOCKED)
        .order_by("-start")
        .values_list("start", flat=True)
        .first()
    )
    return timezone.localdate(last) if last else None


def booked_slots_between(*, professional: Professional, start: datetime, end: datetime):
    """Booked or held slots of the professional in [start, end), with their patient."""
    from relais.orientation.models import Booking, BookingStatus

    return list(
        Booking.objects.filter(
            slot__professional=professional,
            status=BookingStatus.BOOKED,
            slot__start__lt=end,
            slot__end__gt=start,
        )
        .select_related("slot", "request__patient")
        .order_by("slot__start")
    )


def feed_slots(*, professional: Professional, now: datetime | None = None, past_days: int = 7):
    """Slots for the iCal feed: the last week and everything ahead, closed ones left out."""
    from relais.orientation.models import ACTIVE_BOOKING_STATUSES

    now = now or timezone.now()
    return list(
        Slot.objects.filter(professional=professional, start__gte=now - timedelta(days=past_days))
        .exclude(status=SlotStatus.BLOCKED)
        .select_related("practice__commune")
        .annotate(booked=Count("bookings", filter=Q(bookings__status__in=ACTIVE_BOOKING_STATUSES)))
        .order_by("start", "place")
    )
