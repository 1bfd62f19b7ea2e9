"""Writes for orientation: the one booking service every channel calls."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError, Conflict
from relais.notifications.services import notify_booking_created
from relais.orientation.models import Booking, BookingChannel, BookingStatus
from relais.orientation.selectors import available_q, slots_ranked_for
from relais.regulation.models import Request, RequestEvent, RequestStatus
from relais.regulation.services import request_transition


class SlotUnavailable(Conflict):
    """The slot was taken (or closed) by someone else: offer the next best ones."""

    code = "slot_unavailable"

    def __init__(self, message: str = "Créneau plus disponible.", *, alternatives=None):
        super().__init__(message)
        self.alternatives = alternatives or []


def _alternatives(request: Request, exclude_slot_id: int, user=None):
    ranked = slots_ranked_for(request=request, limit=4, user=user)
    return [r for r in ranked if r.slot.pk != exclude_slot_id][:3]


def slot_hold(*, slot: Slot, user, request: Request | None = None, minutes=None) -> Slot:
    """Keep a slot for `user` for a few minutes while the patient agrees.

    Atomic conditional UPDATE: only a free slot, a slot whose hold lapsed, or one
    already held by the same user (the hold is renewed) can be held.
    """
    minutes = minutes or settings.RELAIS_HOLD_MINUTES
    now = timezone.now()
    until = now + timedelta(minutes=minutes)
    held = (
        Slot.objects.filter(pk=slot.pk, start__gt=now)
        .filter(available_q(now=now, user=user))
        .update(status=SlotStatus.HELD, held_until=until, held_by=user)
    )
    if not held:
        alternatives = _alternatives(request, slot.pk, user) if request is not None else []
        raise SlotUnavailable(alternatives=alternatives)
    slot.status, slot.held_until, slot.held_by = SlotStatus.HELD, until, user
    return slot


def slot_release(*, slot: Slot, user) -> bool:
    """Give back a slot held by `user`. Returns False if it was not (or no longer) held by them."""
    released = Slot.objects.filter(pk=slot.pk, status=SlotStatus.HELD, held_by=user).update(
        status=SlotStatus.FREE, held_until=None, held_by=None
    )
    return bool(released)


def holds_expire(*, now=None) -> int:
    """Housekeeping: turn lapsed holds back into free slots (correctness never
    depends on it: every taker already treats a lapsed hold as free)."""
    now = now or timezone.now()
    return Slot.objects.filter(status=SlotStatus.HELD, held_until__lt=now).update(
        status=SlotStatus.FREE, held_until=None, held_by=None
    )


def booking_create(
    *,
    request: Request,
    slot: Slot,
    operator=None,
    channel: str = BookingChannel.UI,
    idempotency_key: str | None = None,
    idempotency_owner: str = "",
) -> Booking:
    """Place a request on a slot, atomically.

    The slot is taken by a conditional UPDATE (free, or held by this operator, or
    held with a lapsed hold -> booked) that the database serialises: of two
    concurrent callers exactly one sees a row updated. The
    partial unique index `booking_one_active_per_slot` is the second guard.
    No check-then-insert anywhere.
    """
    if channel not in BookingChannel.values:
        raise ApplicationError("Canal de réservation inconnu.")
    if idempotency_key:
        previous = _idempotent_replay(request, slot, idempotency_key, idempotency_owner)
        if previous:
            return previous
    now = timezone.now()
    try:
        with transaction.atomic():
            taken = (
                Slot.objects.filter(pk=slot.pk, start__gt=now)
                .filter(available_q(now=now, user=operator))
                .update(status=SlotStatus.BOOKED, held_until=None, held_by=None)
            )
            if not taken:
                raise SlotUnavailable()
            claimed = Request.objects.filter(pk=request.pk, status=RequestStatus.OPEN).update(
                status=RequestStatus.BOOKED, updated_at=now
            )
            if not claimed:
                raise ApplicationError(
                    "Cette demande n'est plus à orienter (déjà orientée ou close).",
                    code="request_not_open",
                )
            booking = Booking.objects.create(
                request=request,
                slot=slot,
                operator=operator,
                channel=channel,
                idempotency_key=idempotency_key or None,
                idempotency_owner=idempotency_owner,
                status_changed_at=now,
            )
            RequestEvent.objects.create(
                request=request,
                actor=operator,
                from_status=RequestStatus.OPEN,
                to_status=RequestStatus.BOOKED,
                note=f"Rendez-vous avec {slot.professional.display_name}",
            )
            notify_booking_created(booking=booking)
            audit_record(user=operator, action="create", obj=booking, reason=channel)
    except SlotUnavailable:
        raise SlotUnavailable(alternatives=_alternatives(request, slot.pk, operator)) from None
    except IntegrityError:
        # Another transaction won the race on the idempotency key or the slot.
        if idempotency_key:
            previous = _idempotent_replay(request, slot, idempotency_key, idempotency_owner)
            if previous:
                return previous
        raise SlotUnavailable(alternatives=_alternatives(request, slot.pk, operator)) from None
    request.status = RequestStatus.BOOKED
    slot.status = SlotStatus.BOOKED
    return booking


def _idempotent_replay(request, slot, key: str, owner: str) -> Booking | None:
    previous = Booking.objects.filter(idempotency_owner=owner, idempotency_key=key).first()
    if previous is None:
        return None
    if previous.request_id != request.pk or previous.slot_id != slot.pk:
        raise Conflict(
            "Cette clé d'idempotence a déjà servi pour un autre rendez-vous.",
            code="idempotency_key_reused",
        )
    return previous


def booking_cancel(*, booking: Booking, actor=None, reason: str = "") -> Booking:
    """Cancel a booking: the slot is freed if still in the future, and the request
    goes back to the operators' worklist (never silently lost)."""
    now = timezone.now()
    with transaction.atomic():
        changed = Booking.objects.filter(pk=booking.pk, status=BookingStatus.BOOKED).update(
            status=BookingStatus.CANCELLED, status_changed_at=now
        )
        if not changed:
            raise ApplicationError("Ce rendez-vous n'est plus annulable.", code="not_cancellable")
        Slot.objects.filter(pk=booking.slot_id, status=SlotStatus.BOOKED, start__gt=now).update(
            status=SlotStatus.FREE
        )
        request_transition(
            request=booking.request,
            to_status=RequestStatus.OPEN,
            actor=actor,
            note=f"Rendez-vous annulé{' : ' + reason if reason else ''}",
            expected=RequestStatus.BOOKED,
        )
        audit_record(user=actor, action="cancel", obj=booking, reason=reason)
    booking.status = BookingStatus.CANCELLED
    return booking


OUTCOMES = {
    BookingStatus.FULFILLED: RequestStatus.DONE,
    BookingStatus.NOSHOW: RequestStatus.NOSHOW,
}


def booking_record_outcome(*, booking: Booking, outcome: str, actor=None) -> Booking:
    """The professional records 'vu' or 'non venu'."""
    if outcome not in OUTCOMES:
        raise ApplicationError("Issue inconnue : choisissez « vu » ou « non venu ».")
    if booking.slot.start > timezone.now():
        raise ApplicationError("Le rendez-vous n'a pas encore eu lieu.")
    with transaction.atomic():
        changed = Booking.objects.filter(pk=booking.pk, status=BookingStatus.BOOKED).update(
            status=outcome, status_changed_at=timezone.now()
        )
        if not changed:
            raise ApplicationError("L'issue de ce rendez-vous est déjà enregistrée.")
        request_transition(
            request=booking.request,
            to_status=OUTCOMES[outcome],
            actor=actor,
            note=BookingStatus(outcome).label,
            expected=RequestStatus.BOOKED,
        )
        audit_record(user=actor, action="update", obj=booking, reason=outcome)
    booking.status = outcome
    return booking
