"""Writes for orientation: the one booking service every channel calls."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError, Conflict
from relais.directory.models import Profession, Professional
from relais.notifications.services import (
    notify_booking_created,
    notify_coordinators_level2,
    notify_level2_offer,
)
from relais.orientation.models import (
    Booking,
    BookingChannel,
    BookingKind,
    BookingStatus,
    Level2Call,
    Level2Offer,
    Level2Status,
    OfferStatus,
)
from relais.orientation.selectors import (
    available_q,
    monday_of,
    professional_snp_counts,
    slots_ranked_for,
    week_bounds,
)
from relais.regulation.models import Request, RequestEvent, RequestStatus
from relais.regulation.services import request_transition
from relais.territory.geo import bounding_box, distance_km


class SlotUnavailable(Conflict):
    """The slot was taken (or closed) by someone else: offer the next best ones."""

    code = "slot_unavailable"

    def __init__(self, message: str = "Créneau plus disponible.", *, alternatives=None):
        super().__init__(message)
        self.alternatives = alternatives or []


class ProfessionalFull(SlotUnavailable):
    """The slot is free but its professional has taken, that day or that week, as many SNP
    patients as they set (Professional.max_snp_per_day / max_snp_per_week)."""

    code = "professional_capacity_reached"


def _alternatives(request: Request, exclude_slot_id: int, user=None, exclude_professional=None):
    ranked = slots_ranked_for(request=request, limit=8 if exclude_professional else 4, user=user)
    return [
        r
        for r in ranked
        if r.slot.pk != exclude_slot_id and r.slot.professional_id != exclude_professional
    ][:3]


def _check_capacity(slot: Slot) -> None:
    """Refuse a slot booking beyond the professional's daily or weekly SNP cap (Paris day,
    ISO week). Only for capped professionals: their row is locked for the rest of the
    booking transaction, so two concurrent bookings cannot both take the last place. Every
    non-cancelled booking counts, surnuméraire and niveau 2 included (those the
    professional accepts one by one, so they are never refused here)."""
    professional = slot.professional
    if professional.max_snp_per_day is None and professional.max_snp_per_week is None:
        return
    per_day, per_week = (
        Professional.objects.select_for_update()
        .filter(pk=professional.pk)
        .values_list("max_snp_per_day", "max_snp_per_week")
        .get()
    )
    day = timezone.localtime(slot.start).date()
    lower, upper = week_bounds(day)
    by_day, by_week = professional_snp_counts(
        professional_id=professional.pk, start=lower, end=upper
    )
    if per_day is not None and by_day[day] >= per_day:
        what, cap = "ce jour-là", per_day
    elif per_week is not None and by_week[monday_of(day)] >= per_week:
        what, cap = "cette semaine-là", per_week
    else:
        return
    raise ProfessionalFull(
        f"{professional.display_name} a déjà le nombre maximal de patients SNP "
        f"qu'il accepte {what} ({cap}). Voici d'autres créneaux."
    )


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
    kind: str = BookingKind.SLOT,
    refusable_until=None,
    api_client: str = "",
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
    now = timezone.now()
    try:
        with transaction.atomic():
            if kind == BookingKind.SLOT:
                _check_capacity(slot)
            taken = (
                Slot.objects.filter(pk=slot.pk, start__gt=now)
                .filter(available_q(now=now, user=operator))
                .update(status=SlotStatus.BOOKED, held_until=None, held_by=None)
            )
            if not taken:
                raise SlotUnavailable()
            claimed = (
                Request.objects.filter(pk=request.pk, status=RequestStatus.OPEN)
                .filter(Q(red_flag=False) | Q(red_flag_override_at__isnull=False))
                .update(status=RequestStatus.BOOKED, updated_at=now)
            )
            if not claimed:
                if Request.objects.filter(
                    pk=request.pk, red_flag=True, red_flag_override_at__isnull=True
                ).exists():
                    raise ApplicationError(
                        "Signe de gravité : proposez le transfert au 15. Un créneau de "
                        "médecine générale ne peut être réservé que si un médecin régulateur "
                        "lève l'alerte.",
                        code="red_flag",
                    )
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
                kind=kind,
                refusable_until=refusable_until,
            )
            # Placed another way: a niveau-2 call still running for it is over.
            Level2Call.objects.filter(request=request, status=Level2Status.OPEN).update(
                status=Level2Status.CANCELLED, closing_reason="Demande orientée autrement"
            )
            RequestEvent.objects.create(
                request=request,
                actor=operator,
                from_status=RequestStatus.OPEN,
                to_status=RequestStatus.BOOKED,
                note=f"Rendez-vous avec {slot.professional.display_name}",
            )
            notify_booking_created(booking=booking)
            audit_record(
                user=operator, api_client=api_client, action="create", obj=booking, reason=channel
            )
            _report_to_sas(booking)
    except (ApplicationError, IntegrityError) as exc:
        # A replayed call fails like any second attempt (its slot is taken, its request
        # booked, or its key is already in the unique index): the key is looked up only
        # then, which spares a query on every first attempt.
        if idempotency_key:
            previous = _idempotent_replay(request, slot, idempotency_key, idempotency_owner)
            if previous:
                return previous
        if isinstance(exc, ProfessionalFull):
            exc.alternatives = _alternatives(
                request, slot.pk, operator, exclude_professional=slot.professional_id
            )
            raise
        if isinstance(exc, SlotUnavailable | IntegrityError):
            # IntegrityError: another transaction won the race on the slot.
            raise SlotUnavailable(alternatives=_alternatives(request, slot.pk, operator)) from None
        raise
    request.status = RequestStatus.BOOKED
    slot.status = SlotStatus.BOOKED
    return booking


def _report_to_sas(booking: Booking) -> None:
    """INT_R03: tell the national SAS platform, in the same transaction (the report is
    an outbox row plus a queued task; nothing is sent while no SAS endpoint is set)."""
    from relais.interop.services import appointment_report_enqueue  # interop imports us

    appointment_report_enqueue(booking=booking)


def booking_place(
    *,
    request: Request,
    slot: Slot,
    operator=None,
    channel=BookingChannel.UI,
    api_client: str = "",
    **idempotency,
):
    """Book from an operator page or the JSON API: a slot mirrored from a partner's
    software is also confirmed with that partner; any other goes to booking_create."""
    if slot.source:
        from relais.interop.services import partner_slot_book

        return partner_slot_book(request=request, slot=slot, operator=operator)
    return booking_create(
        request=request,
        slot=slot,
        operator=operator,
        channel=channel,
        api_client=api_client,
        **idempotency,
    )


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
        # Freed even when past: a slot is `booked` exactly when it holds a non-cancelled
        # booking (the indicators count used slots by it); a past free slot is never offered.
        Slot.objects.filter(pk=booking.slot_id, status=SlotStatus.BOOKED).update(
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
        _report_to_sas(booking)
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
        _report_to_sas(booking)
    return booking


# -- Surnuméraire and niveau 2 ------------------------------------------------------------


def _adhoc_slot(*, professional: Professional, start, minutes: int = 20) -> Slot:
    """A slot outside the published agenda, offered on no channel: it exists only to
    carry a surnuméraire or niveau-2 booking through the one booking service."""
    now = timezone.now()
    if start <= now:
        raise ApplicationError("L'heure choisie est déjà passée.")
    if start > now + timedelta(days=3):
        raise ApplicationError("L'heure choisie est trop lointaine pour un soin non programmé.")
    practice = professional.practices.first()
    if practice is None:
        raise ApplicationError("Ce professionnel n'a pas de lieu d'exercice renseigné.")
    try:
        with transaction.atomic():
            return Slot.objects.create(
                professional=professional,
                practice=practice,
                start=start,
                end=start + timedelta(minutes=minutes),
                for_sas=False,
                for_cpts=False,
                for_public=False,
                for_partners=False,
            )
    except IntegrityError:
        raise ApplicationError(
            "Ce professionnel a déjà un rendez-vous à cette heure : choisissez-en une autre."
        ) from None


@transaction.atomic
def surnumeraire_address(
    *, request: Request, professional: Professional, start, operator=None
) -> Booking:
    """Address a patient to a doctor beyond their slots, at a chosen time. The doctor
    is notified and may refuse for a while, which sends the request back to the worklist."""
    if not professional.accepts_surnumeraire:
        raise ApplicationError("Ce médecin n'accepte pas de patient en surnuméraire.")
    slot = _adhoc_slot(professional=professional, start=start)
    refusable_until = timezone.now() + timedelta(
        minutes=settings.RELAIS_SURNUMERAIRE_REFUSAL_MINUTES
    )
    return booking_create(
        request=request,
        slot=slot,
        operator=operator,
        channel=BookingChannel.UI,
        kind=BookingKind.SURNUMERAIRE,
        refusable_until=refusable_until,
    )


def surnumeraire_refuse(*, booking: Booking, professional: Professional, reason: str = "") -> None:
    if booking.kind != BookingKind.SURNUMERAIRE or booking.slot.professional_id != professional.pk:
        raise ApplicationError("Seul un patient adressé en surnuméraire peut être refusé ici.")
    if booking.refusable_until is None or timezone.now() > booking.refusable_until:
        raise ApplicationError("Le délai pour refuser ce patient est dépassé : appelez le SAS.")
    with transaction.atomic():
        booking_cancel(
            booking=booking,
            actor=professional.user,
            reason=f"refusé par {professional.display_name}" + (f" ({reason})" if reason else ""),
        )
        Slot.objects.filter(pk=booking.slot_id).update(status=SlotStatus.BLOCKED)


def _volunteers(*, request: Request, radius_km: float, exclude_ids=()):
    commune = request.patient.commune
    qs = Professional.objects.filter(
        active=True, cpts_level2=True, profession=Profession.MEDECIN
    ).exclude(pk__in=list(exclude_ids))
    if commune.has_point:
        min_lat, max_lat, min_lon, max_lon = bounding_box(
            commune.latitude, commune.longitude, radius_km
        )
        qs = qs.filter(
            practices__latitude__range=(min_lat, max_lat),
            practices__longitude__range=(min_lon, max_lon),
        )
    else:
        qs = qs.filter(practices__commune=commune)
    found = []
    for pro in qs.distinct().prefetch_related("practices"):
        practice = pro.practices.first()
        if (
            commune.has_point
            and distance_km(
                commune.latitude, commune.longitude, practice.latitude, practice.longitude
            )
            > radius_km
        ):
            continue
        found.append(pro)
    return found


def _offer(call: Level2Call, professionals) -> list[Level2Offer]:
    offers = Level2Offer.objects.bulk_create(
        [Level2Offer(call=call, professional=p) for p in professionals], ignore_conflicts=True
    )
    offers = list(
        Level2Offer.objects.filter(call=call, professional__in=professionals).select_related(
            "professional", "call__request__patient__commune", "call__request__motif"
        )
    )
    for offer in offers:
        notify_level2_offer(offer=offer)
    return offers


@transaction.atomic
def level2_launch(*, request: Request, user=None, radius_km: float | None = None) -> Level2Call:
    """Offer the anonymised request to the CPTS's niveau-2 volunteers around the patient."""
    if request.status != RequestStatus.OPEN:
        raise ApplicationError("Seule une demande à orienter peut passer au niveau 2.")
    now = timezone.now()
    radius = radius_km or request.patient.commune.departement.default_radius_km
    try:
        with transaction.atomic():
            call = Level2Call.objects.create(
                request=request,
                launched_by=user,
                radius_km=radius,
                widen_at=now + timedelta(minutes=settings.RELAIS_LEVEL2_WIDEN_MINUTES),
                deadline=now + timedelta(minutes=settings.RELAIS_LEVEL2_DEADLINE_MINUTES),
            )
    except IntegrityError:
        raise ApplicationError(
            "Un appel de niveau 2 est déjà en cours pour cette demande."
        ) from None
    _offer(call, _volunteers(request=request, radius_km=radius))
    RequestEvent.objects.create(
        request=request,
        actor=user,
        from_status=request.status,
        to_status=request.status,
        note=f"Niveau 2 lancé ({call.offers.count()} volontaire(s), {radius:.0f} km)",
    )
    from relais.orientation.tasks import level2_check

    # Both checks are written in this transaction: nothing to schedule elsewhere.
    level2_check.using(run_after=call.widen_at).enqueue(call.pk)
    level2_check.using(run_after=call.deadline).enqueue(call.pk)
    audit_record(user=user, action="create", obj=call)
    return call


def level2_accept(*, offer: Level2Offer, start) -> Booking:
    """The first volunteer to accept gets the patient; the others are told it is taken.

    An atomic conditional UPDATE on the call (open -> accepted) decides the winner."""
    professional = offer.professional
    now = timezone.now()
    with transaction.atomic():
        won = Level2Call.objects.filter(
            pk=offer.call_id, status=Level2Status.OPEN, deadline__gt=now
        ).update(status=Level2Status.ACCEPTED, accepted_by=professional, accepted_at=now)
        if not won:
            raise ApplicationError(
                "Déjà pris en charge par un confrère. Merci !", code="already_taken"
            )
        call = Level2Call.objects.select_related("request").get(pk=offer.call_id)
        slot = _adhoc_slot(professional=professional, start=start)
        booking = booking_create(
            request=call.request,
            slot=slot,
            operator=professional.user,
            channel=BookingChannel.UI,
            kind=BookingKind.NIVEAU2,
        )
        Level2Call.objects.filter(pk=call.pk).update(booking=booking)
        Level2Offer.objects.filter(pk=offer.pk).update(status=OfferStatus.ACCEPTED, answered_at=now)
        Level2Offer.objects.filter(call=call, status=OfferStatus.PENDING).update(
            status=OfferStatus.TOO_LATE
        )
    return booking


def level2_decline(*, offer: Level2Offer) -> None:
    Level2Offer.objects.filter(pk=offer.pk, status=OfferStatus.PENDING).update(
        status=OfferStatus.DECLINED, answered_at=timezone.now()
    )


def level2_check(*, call_id: int, now=None) -> str:
    """Run at the widening time and at the deadline of a call (queued at launch)."""
    now = now or timezone.now()
    with transaction.atomic():
        call = (
            Level2Call.objects.select_for_update(of=("self",))
            .select_related("request__patient__commune", "request__cpts")
            .filter(pk=call_id, status=Level2Status.OPEN)
            .first()
        )
        if call is None:
            return "closed"
        if now >= call.deadline:
            Level2Call.objects.filter(pk=call.pk).update(
                status=Level2Status.EXPIRED, closing_reason="Aucun volontaire avant l'échéance"
            )
            Level2Offer.objects.filter(call=call, status=OfferStatus.PENDING).update(
                status=OfferStatus.TOO_LATE
            )
            request_transition(
                request=call.request,
                to_status=RequestStatus.UNPLACED,
                note="Niveau 2 sans réponse avant l'échéance",
                expected=RequestStatus.OPEN,
            )
            return "expired"
        if now >= call.widen_at and not call.widened:
            radius = call.radius_km * 2
            already = call.offers.values_list("professional_id", flat=True)
            newcomers = _volunteers(request=call.request, radius_km=radius, exclude_ids=already)
            Level2Call.objects.filter(pk=call.pk).update(radius_km=radius, widened=True)
            _offer(call, newcomers)
            notify_coordinators_level2(call=call, radius_km=radius, added=len(newcomers))
            return "widened"
    return "waiting"
