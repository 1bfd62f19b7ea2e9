"""Writes for orientation: the one booking service every channel calls."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from relais.accounts.models import Role
from relais.accounts.permissions import Scope, scope_for
from relais.agenda.models import Modality, Slot, SlotStatus
from relais.audit.services import audit_record
from relais.core.db_routing import primary_only
from relais.core.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from relais.core.queue import batched
from relais.directory.models import Delegation, Profession, Professional
from relais.notifications.services import (
    notify_booking_cancelled,
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
    CHANNEL_FIELDS,
    DECISION_MODALITIES,
    DOOR_API,
    DOOR_FHIR,
    DOOR_UI,
    alternatives_from_last_ranking,
    available_q,
    channels_q,
    eligible_q,
    live_holds_count,
    monday_of,
    professional_in_cpts_scope,
    professional_in_sas_scope,
    professional_snp_counts,
    request_in_scope,
    scope_is_api_client,
    slot_ineligibility,
    slot_take_channels,
    slots_ranked_for,
    week_bounds,
)
from relais.regulation.models import Request, RequestEvent, RequestStatus
from relais.regulation.services import request_transition
from relais.territory.geo import bounding_box, distance_km


class OffersAlternatives:
    """An error that offers the next best slots, computed only when asked for (issue 22:
    a refused call no longer runs a ranked search). `alternatives` (RankedSlot list),
    read by the operator pages, runs the ranked search on first read. The API's error
    body (relais.core.api maps errors, orientation says how) does not: its
    `alternatives` are the still-free slots of the caller's last ranking of the request
    (selectors.alternatives_from_last_ranking: one bounded query, none without a
    ranking), and `alternatives_url` is the ranked search to call for more."""

    _alternatives: list | None = None
    _alternatives_of: dict | None = None

    def offer_alternatives(
        self,
        *,
        request: Request,
        exclude_slot_id: int,
        user=None,
        exclude_professional=None,
        scope: Scope | None = None,
    ):
        self._alternatives, self._alternatives_of = (
            None,
            {
                "request": request,
                "exclude_slot_id": exclude_slot_id,
                "user": user,
                "exclude_professional": exclude_professional,
                "scope": scope,
            },
        )
        return self

    @property
    def alternatives(self) -> list:
        if self._alternatives is None:
            of = self._alternatives_of
            self._alternatives = (
                _alternatives(
                    of["request"], of["exclude_slot_id"], of["user"], of["exclude_professional"]
                )
                if of
                else []
            )
        return self._alternatives

    @alternatives.setter
    def alternatives(self, value) -> None:
        self._alternatives = list(value) if value is not None else None

    def api_extra(self) -> dict:
        from django.urls import reverse

        from relais.orientation.schemas import ranked_slot_out

        of = self._alternatives_of
        if self._alternatives is not None or not of:
            offered = self._alternatives or []
        else:
            offered = alternatives_from_last_ranking(
                request=of["request"],
                exclude_slot_id=of["exclude_slot_id"],
                user=of["user"],
                scope=of["scope"],
                exclude_professional=of["exclude_professional"],
            )
        extra = {**self.extra, "alternatives": [ranked_slot_out(r) for r in offered]}
        if of:
            extra["alternatives_url"] = reverse(
                "api:ranked_slots", kwargs={"request_id": of["request"].public_id}
            )
        return extra


class SlotUnavailable(OffersAlternatives, Conflict):
    """The slot was taken (or closed) by someone else: offer the next best ones."""

    code = "slot_unavailable"

    def __init__(self, message: str = "Créneau plus disponible.", *, alternatives=None):
        super().__init__(message)
        self.alternatives = alternatives


class ProfessionalFull(SlotUnavailable):
    """The slot is free but its professional has taken, that day or that week, as many SNP
    patients as they set (Professional.max_snp_per_day / max_snp_per_week)."""

    code = "professional_capacity_reached"


class SlotOutOfScope(NotFound):
    """The slot is outside the caller's territory, or not open on the caller's channel:
    answered like a slot that does not exist (404), so nothing is learnt about it."""

    code = "slot_out_of_scope"

    def __init__(
        self,
        message: str = (
            "Créneau introuvable : il n'est pas dans votre territoire ou pas ouvert à votre canal."
        ),
    ):
        super().__init__(message)


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"


class SlotNotEligible(OffersAlternatives, ApplicationError):
    """The slot does not accept this request (age range, motifs, the decided modality):
    the one eligibility rule of the search (orientation.selectors.eligibility_criteria),
    checked again when the slot is taken. `reasons` are the failed criteria's codes."""

    code = "slot_not_eligible"
    http_status = 422

    def __init__(self, failing):
        super().__init__(
            " ".join(c.why for c in failing), extra={"reasons": [c.code for c in failing]}
        )


def slot_check_eligible(*, slot: Slot, request: Request) -> None:
    """Refuse (SlotNotEligible, French) a slot the request may not take; the taker still
    repeats the rule in its conditional UPDATE (eligible_q), so this is the early word."""
    failing = slot_ineligibility(slot=slot, request=request)
    if failing:
        raise SlotNotEligible(failing)


# -- Who may write (issue 14: every write scoped like every read) ---------------------------
#
# Every write service takes the caller's `scope` (accounts.permissions: a user's or an API
# client's) as a keyword argument. Left out, it is the signed-in `operator`/`actor`'s;
# with neither, the caller is internal (a task, the demo builder, a management command,
# or a service that already checked, such as the niveau-2 acceptance): SYSTEM, unchecked.
# Doors (pages, JSON API, FHIR) always pass the scope they authenticated.

SYSTEM = Scope(roles=frozenset({"system"}))


def caller_scope(*, scope: Scope | None, user=None) -> Scope:
    if scope is not None:
        return scope
    if user is not None and getattr(user, "is_authenticated", False):
        return scope_for(user)
    return SYSTEM


def _door(channel: str, scope: Scope) -> str:
    if channel == BookingChannel.FHIR:
        return DOOR_FHIR
    return DOOR_API if scope_is_api_client(scope) else DOOR_UI


def _check_role(scope: Scope, action: str) -> None:
    if not scope.can(action):
        raise PermissionDenied("Votre rôle ne permet pas cette action.")


def _check_request(scope: Scope, request: Request, action: str) -> None:
    _check_role(scope, action)
    if not request_in_scope(request=request, scope=scope):
        raise NotFound("Demande introuvable.")


def slot_open_channels(*, slot: Slot, scope: Scope, channel: str) -> set[str] | None:
    """The channels on which the caller may take `slot` and the slot is open (None for
    SYSTEM: no restriction); SlotOutOfScope if there is none. The taker repeats these
    channel flags in its conditional UPDATE, so a slot closed meanwhile is not taken."""
    if scope is SYSTEM:
        return None
    channels = slot_take_channels(slot=slot, scope=scope, door=_door(channel, scope))
    opened = {c for c in channels if getattr(slot, CHANNEL_FIELDS[c])}
    if not opened:
        raise SlotOutOfScope()
    return opened


def _is_professional_or_delegate(booking: Booking, scope: Scope, actor) -> bool:
    professional_id = booking.slot.professional_id
    if scope.professional_id is not None and scope.professional_id == professional_id:
        return True
    return bool(
        actor is not None
        and Role.DELEGATAIRE in scope.roles
        and Delegation.objects.filter(
            professional_id=professional_id, delegate_id=actor.pk
        ).exists()
    )


def _scope_or_none(scope: Scope) -> Scope | None:
    return None if scope is SYSTEM else scope


def _alternatives(request: Request, exclude_slot_id: int, user=None, exclude_professional=None):
    scope = scope_for(user) if getattr(user, "is_authenticated", False) else None
    ranked = slots_ranked_for(
        request=request, limit=8 if exclude_professional else 4, user=user, scope=scope
    )
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


# Every read that decides this write is on the primary, even inside lag_tolerant().
@primary_only()
def slot_hold(
    *, slot: Slot, user, request: Request | None = None, minutes=None, scope: Scope | None = None
) -> Slot:
    """Keep a slot for `user` for a few minutes while the patient agrees.

    Atomic conditional UPDATE: only a free slot, a slot whose hold lapsed, or one
    already held by the same user (the hold is renewed) can be held, and only a slot the
    caller may book (territory and channel, see slot_open_channels). An operator holds at
    most RELAIS_MAX_HOLDS_PER_OPERATOR live slots at once (their user row is locked while
    counting, so two concurrent holds cannot both take the last place).
    """
    scope = caller_scope(scope=scope, user=user)
    if scope is not SYSTEM:
        _check_role(scope, "booking.create")
        if request is not None:
            _check_request(scope, request, "booking.create")
    opened = slot_open_channels(slot=slot, scope=scope, channel=BookingChannel.UI)
    minutes = minutes or settings.RELAIS_HOLD_MINUTES
    limit = getattr(settings, "RELAIS_MAX_HOLDS_PER_OPERATOR", 3)
    now = timezone.now()
    until = now + timedelta(minutes=minutes)
    taking = Slot.objects.filter(pk=slot.pk, start__gt=now).filter(available_q(now=now, user=user))
    if opened is not None:
        taking = taking.filter(channels_q(opened))
    if request is not None:
        taking = taking.filter(eligible_q(request))
    with transaction.atomic():
        if limit and getattr(user, "pk", None):
            get_user_model().objects.select_for_update().filter(pk=user.pk).values_list(
                "pk"
            ).first()
            live = live_holds_count(user=user, now=now, exclude_slot_id=slot.pk)
            if live >= limit:
                raise HoldLimitReached(
                    f"Vous retenez déjà {live} créneau(x) : au plus {limit} créneaux à la "
                    "fois. Réservez ou libérez-en un avant d'en retenir un autre."
                )
        held = taking.update(status=SlotStatus.HELD, held_until=until, held_by=user)
    if not held and request is not None:
        slot_check_eligible(slot=slot, request=request)
    if not held:
        refused = SlotUnavailable()
        if request is not None:
            refused.offer_alternatives(
                request=request, exclude_slot_id=slot.pk, user=user, scope=_scope_or_none(scope)
            )
        raise refused
    slot.status, slot.held_until, slot.held_by = SlotStatus.HELD, until, user
    return slot


@primary_only()
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


@primary_only()
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
    scope: Scope | None = None,
    public_id=None,
    hold_token=None,
) -> Booking:
    """Place a request on a slot, atomically.

    The slot is taken by a conditional UPDATE (free, or held by this operator, or
    held with a lapsed hold -> booked) that the database serialises: of two
    concurrent callers exactly one sees a row updated. The
    partial unique index `booking_one_active_per_slot` is the second guard.
    No check-then-insert anywhere.

    The caller's `scope` (see caller_scope) must cover the request, and, for a published
    slot, the slot's territory on a channel the slot is open to (slot_open_channels): the
    channel flags are repeated in the UPDATE. Ad-hoc slots (surnuméraire, niveau 2) are
    checked by their services. `hold_token`: the `held_until` of a hold placed by
    partner_slot_book while the partner confirmed; `public_id`: the id that partner got.
    """
    if channel not in BookingChannel.values:
        raise ApplicationError("Canal de réservation inconnu.")
    if kind == BookingKind.SLOT and slot.is_partner_mirror and hold_token is None:
        # A slot mirrored from a partner's software is booked only by the mirror booker
        # (relais.orientation.events: the partner confirms first, then calls us with its
        # hold token), whatever the door: never here behind the partner's back.
        raise ApplicationError(
            "Ce créneau vient du logiciel d'agenda d'un partenaire : il ne se réserve "
            "qu'avec sa confirmation.",
            code="partner_slot",
        )
    scope = caller_scope(scope=scope, user=operator)
    opened = None
    if scope is not SYSTEM:
        _check_request(scope, request, "booking.create")
        if kind == BookingKind.SLOT:
            opened = slot_open_channels(slot=slot, scope=scope, channel=channel)
    now = timezone.now()
    takeable = available_q(now=now, user=operator)
    if hold_token is not None:
        takeable |= Q(status=SlotStatus.HELD, held_until=hold_token, held_by=operator)
    try:
        # batched(): the booking's tasks (messages' delivery, reminders, outcome reminder,
        # SAS report) in one INSERT at the end of the transaction.
        with transaction.atomic(), batched():
            if kind == BookingKind.SLOT:
                _check_capacity(slot)
            # The eligibility rule of the search, repeated in the UPDATE: a slot the
            # request may not take (age, motifs, decided modality) is never taken.
            taking = (
                Slot.objects.filter(pk=slot.pk, start__gt=now)
                .filter(takeable)
                .filter(eligible_q(request))
            )
            if opened is not None:
                taking = taking.filter(channels_q(opened))
            taken = taking.update(status=SlotStatus.BOOKED, held_until=None, held_by=None)
            if not taken:
                slot_check_eligible(slot=slot, request=request)
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
                **({"public_id": public_id} if public_id else {}),
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
            outcome_reminder_schedule(booking=booking)
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
        # The alternatives are computed only when read (OffersAlternatives): the API's
        # 409 reuses the caller's last ranking, an operator page runs the search.
        offer = {
            "request": request,
            "exclude_slot_id": slot.pk,
            "user": operator,
            "scope": _scope_or_none(scope),
        }
        if isinstance(exc, ProfessionalFull):
            exc.offer_alternatives(**offer, exclude_professional=slot.professional_id)
            raise
        if isinstance(exc, SlotNotEligible):
            exc.offer_alternatives(**offer)
            raise
        if isinstance(exc, SlotUnavailable | IntegrityError):
            # IntegrityError: another transaction won the race on the slot.
            raise SlotUnavailable().offer_alternatives(**offer) from None
        raise
    request.status = RequestStatus.BOOKED
    slot.status = SlotStatus.BOOKED
    return booking


def _report_to_sas(booking: Booking) -> None:
    """INT_R03: tell the national SAS platform, in the same transaction (the report is
    an outbox row plus a queued task; nothing is sent while no SAS endpoint is set)."""
    # Published, not called: interop subscribes (relais.orientation.events); orientation
    # never imports interop.
    from relais.orientation.events import publish_booking_changed

    publish_booking_changed(booking=booking)


@primary_only()
def booking_place(
    *,
    request: Request,
    slot: Slot,
    operator=None,
    channel=BookingChannel.UI,
    api_client: str = "",
    scope: Scope | None = None,
    **idempotency,
):
    """Book from an operator page or the JSON API: a slot mirrored from a partner's
    software is also confirmed with that partner (after the eligibility rule: the partner
    is never asked for a slot Relais would refuse); any other slot (a rule's, a one-off
    form's, an .ics import's) goes to booking_create."""
    if slot.is_partner_mirror:
        from relais.orientation.events import mirror_booker

        return mirror_booker()(
            request=request, slot=slot, operator=operator, scope=scope, api_client=api_client
        )
    return booking_create(
        request=request,
        slot=slot,
        operator=operator,
        channel=channel,
        api_client=api_client,
        scope=scope,
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


@primary_only()
def booking_cancel(
    *,
    booking: Booking,
    actor=None,
    reason: str = "",
    scope: Scope | None = None,
    api_client: str = "",
) -> Booking:
    """Cancel a booking: the slot is freed if still in the future, and the request
    goes back to the operators' worklist (never silently lost).

    Only by a caller whose scope covers the request's territory (with the role to cancel),
    or by the booking's professional or their délégataire; anyone else gets a 404."""
    scope = caller_scope(scope=scope, user=actor)
    if scope is not SYSTEM and not (
        (scope.can("booking.cancel") and request_in_scope(request=booking.request, scope=scope))
        or _is_professional_or_delegate(booking, scope, actor)
    ):
        raise NotFound("Rendez-vous introuvable.")
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
        audit_record(user=actor, api_client=api_client, action="cancel", obj=booking, reason=reason)
        booking.status = BookingStatus.CANCELLED
        # Whoever cancels, the patient and the professional are told (outbox, this
        # transaction); the professional who cancelled it himself is not texted about it.
        notify_booking_cancelled(
            booking=booking,
            by_professional=scope.professional_id is not None
            and scope.professional_id == booking.slot.professional_id,
        )
        _report_to_sas(booking)
    return booking


OUTCOMES = {
    BookingStatus.FULFILLED: RequestStatus.DONE,
    BookingStatus.NOSHOW: RequestStatus.NOSHOW,
}
# An outcome may be corrected (a mis-tap: "non venu" for "vu") for this many days after
# it was first recorded; then it is locked (the statement and indicators read it).
OUTCOME_CORRECTION_DAYS = 7


def outcome_correctable_until(booking: Booking):
    """Until when the recorded outcome of `booking` may be corrected (None: not recorded)."""
    recorded = booking.outcome_recorded_at
    return recorded + timedelta(days=OUTCOME_CORRECTION_DAYS) if recorded else None


def booking_record_outcome(
    *, booking: Booking, outcome: str, actor=None, scope: Scope | None = None
) -> Booking:
    """The professional (or their délégataire) records 'vu' or 'non venu'; no one else.

    Recorded once, it may be corrected to the other outcome for OUTCOME_CORRECTION_DAYS
    (audited with the old and new outcome; the request follows, DONE <-> NOSHOW), then it
    is locked. Every change is a conditional UPDATE on the status the caller saw."""
    scope = caller_scope(scope=scope, user=actor)
    if scope is not SYSTEM and not _is_professional_or_delegate(booking, scope, actor):
        raise PermissionDenied(
            "Seul le professionnel du rendez-vous (ou son délégataire) enregistre l'issue."
        )
    if outcome not in OUTCOMES:
        raise ApplicationError("Issue inconnue : choisissez « vu » ou « non venu ».")
    now = timezone.now()
    if booking.slot.start > now:
        raise ApplicationError("Le rendez-vous n'a pas encore eu lieu.")
    if booking.status in OUTCOMES:
        return _booking_correct_outcome(booking=booking, outcome=outcome, actor=actor, now=now)
    with transaction.atomic():
        changed = Booking.objects.filter(pk=booking.pk, status=BookingStatus.BOOKED).update(
            status=outcome, status_changed_at=now, outcome_recorded_at=now
        )
        if not changed:
            raise ApplicationError(
                "Ce rendez-vous a changé entre-temps (annulé ou déjà renseigné) : rechargez "
                "la page.",
                code="stale",
            )
        request_transition(
            request=booking.request,
            to_status=OUTCOMES[outcome],
            actor=actor,
            note=BookingStatus(outcome).label,
            expected=RequestStatus.BOOKED,
        )
        audit_record(user=actor, action="update", obj=booking, reason=outcome)
        booking.status, booking.outcome_recorded_at = outcome, now
        _report_to_sas(booking)
    return booking


def _booking_correct_outcome(*, booking: Booking, outcome: str, actor, now) -> Booking:
    previous = booking.status
    if outcome == previous:
        return booking  # the same answer twice: nothing to correct
    until = outcome_correctable_until(booking)
    if until is None or now > until:
        raise ApplicationError(
            f"L'issue de ce rendez-vous est verrouillée : elle ne se corrige que dans les "
            f"{OUTCOME_CORRECTION_DAYS} jours qui suivent sa saisie. Contactez la "
            "coordination de votre CPTS.",
            code="outcome_locked",
        )
    with transaction.atomic():
        changed = Booking.objects.filter(
            pk=booking.pk,
            status=previous,
            outcome_recorded_at__gte=now - timedelta(days=OUTCOME_CORRECTION_DAYS),
        ).update(status=outcome, status_changed_at=now)
        if not changed:
            raise ApplicationError(
                "Ce rendez-vous a changé entre-temps : rechargez la page.", code="stale"
            )
        try:
            request_transition(
                request=booking.request,
                to_status=OUTCOMES[outcome],
                actor=actor,
                note=f"Issue corrigée : {BookingStatus(outcome).label}",
                expected=OUTCOMES[previous],
            )
        except ApplicationError:
            raise ApplicationError(
                "La demande de ce patient a été reprise depuis (nouveau rendez-vous) : "
                "l'issue ne peut plus être corrigée ici. Contactez la coordination de votre "
                "CPTS.",
                code="outcome_locked",
            ) from None
        audit_record(
            user=actor,
            action="update",
            obj=booking,
            reason=f"issue corrigée : {previous} -> {outcome}",
        )
        booking.status = outcome
        _report_to_sas(booking)
    return booking


def outcome_reminder_schedule(*, booking: Booking) -> None:
    """Queue, in the booking's transaction, the next-morning reminder to the professional
    (08:00 Paris the day after the appointment) to record its outcome."""
    from relais.core.queue import enqueue

    day = timezone.localtime(booking.slot.end).date() + timedelta(days=1)
    when = timezone.make_aware(datetime.combine(day, time(8)))
    enqueue("relais.orientation.tasks.outcome_reminder", booking.pk, run_after=when)


def outcome_reminder_send(*, booking_id: int, now=None) -> str:
    """The morning after: if the appointment still has no outcome, one message to its
    professional (SMS, no patient identity) counting every past appointment of theirs
    still to record; at most one such message per professional and day."""
    from relais.notifications.models import Notification, NotificationChannel
    from relais.notifications.services import notification_create
    from relais.orientation.selectors import bookings_to_record

    now = now or timezone.now()
    booking = (
        Booking.objects.select_related("slot__professional", "request")
        .filter(pk=booking_id, status=BookingStatus.BOOKED)
        .first()
    )
    if booking is None:
        return "skipped"  # cancelled or already recorded
    professional = booking.slot.professional
    day_start = timezone.make_aware(datetime.combine(timezone.localdate(now), time(0)))
    if Notification.objects.filter(
        kind="outcome_reminder",
        booking__slot__professional=professional,
        created_at__gte=day_start,
    ).exists():
        return "skipped"  # this morning's message already counts it
    count = bookings_to_record(professional_id=professional.pk, now=now).count()
    link = f"{settings.SITE_URL.rstrip('/')}/pro/patients/"
    created = notification_create(
        kind="outcome_reminder",
        channel=NotificationChannel.SMS,
        recipient=professional.phone,
        body=(
            f"Relais : {count} rendez-vous SNP passé(s) sans issue (vu / non venu). "
            f"Renseignez-les dans « Mes patients SNP » : {link}"
        ),
        booking=booking,
    )
    return "queued" if created else "no_phone"


# -- Surnuméraire and niveau 2 ------------------------------------------------------------


def _adhoc_slot(
    *, professional: Professional, start, minutes: int = 20, request: Request | None = None
) -> Slot:
    """A slot outside the published agenda, offered on no channel: it exists only to
    carry a surnuméraire or niveau-2 booking through the one booking service. Made for
    the request, it has the modality the régulateur decided (the eligibility rule)."""
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
                modality=DECISION_MODALITIES.get(request.decision, Modality.CABINET)
                if request is not None
                else Modality.CABINET,
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
    *,
    request: Request,
    professional: Professional,
    start,
    operator=None,
    scope: Scope | None = None,
    channel: str = BookingChannel.UI,
    api_client: str = "",
) -> Booking:
    """Address a patient to a doctor beyond their slots, at a chosen time. The doctor
    is notified and may refuse for a while, which sends the request back to the worklist.
    The doctor must be in the caller's territory (SAS or CPTS, as for slots)."""
    scope = caller_scope(scope=scope, user=operator)
    if scope is not SYSTEM:
        _check_request(scope, request, "booking.create")
        if not (
            professional_in_sas_scope(professional=professional, scope=scope)
            or professional_in_cpts_scope(professional=professional, scope=scope)
        ):
            raise NotFound("Médecin introuvable dans votre territoire.")
    if not professional.accepts_surnumeraire:
        raise ApplicationError("Ce médecin n'accepte pas de patient en surnuméraire.")
    from relais.orientation.surnumeraire import refusal

    out_of_hours = refusal(professional, professional.practices.first(), start)
    if out_of_hours:
        raise ApplicationError(out_of_hours, code="surnumeraire_out_of_hours")
    slot = _adhoc_slot(professional=professional, start=start, request=request)
    refusable_until = timezone.now() + timedelta(
        minutes=settings.RELAIS_SURNUMERAIRE_REFUSAL_MINUTES
    )
    return booking_create(
        request=request,
        slot=slot,
        operator=operator,
        channel=channel,
        kind=BookingKind.SURNUMERAIRE,
        refusable_until=refusable_until,
        scope=scope,
        api_client=api_client,
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
    # Only volunteers of the request's SAS territory (practice in its département, or a
    # CPTS of that SAS), even when the radius crosses the border.
    qs = qs.filter(
        Q(practices__commune__departement__sas__id=request.sas_id) | Q(cpts__sas_id=request.sas_id)
    )
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
def level2_launch(
    *, request: Request, user=None, radius_km: float | None = None, scope: Scope | None = None
) -> Level2Call:
    """Offer the anonymised request to the CPTS's niveau-2 volunteers around the patient
    (of the request's SAS territory); only by a caller whose scope covers the request."""
    scope = caller_scope(scope=scope, user=user)
    if scope is not SYSTEM:
        _check_request(scope, request, "request.orient")
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
    from relais.core.queue import enqueue

    # Both checks are written in this transaction: nothing to schedule elsewhere.
    enqueue("relais.orientation.tasks.level2_check", call.pk, run_after=call.widen_at)
    enqueue("relais.orientation.tasks.level2_check", call.pk, run_after=call.deadline)
    audit_record(user=user, action="create", obj=call)
    return call


def level2_accept(*, offer: Level2Offer, start) -> Booking:
    """The first volunteer to accept gets the patient; the others are told it is taken.

    An atomic conditional UPDATE on the call (open -> accepted) decides the winner."""
    professional = offer.professional
    now = timezone.now()
    with transaction.atomic():
        # Locks in one order for every volunteer: the call first (the winner), then the
        # offers. Claiming the own offer first deadlocked two racing volunteers (each held
        # its offer and waited for the call, the winner then for the other's offer).
        won = Level2Call.objects.filter(
            pk=offer.call_id, status=Level2Status.OPEN, deadline__gt=now
        ).update(status=Level2Status.ACCEPTED, accepted_by=professional, accepted_at=now)
        # The offer itself must still be pending (a declined or closed offer cannot
        # accept), claimed by a conditional UPDATE like the call; refused, the call's
        # update is rolled back with the transaction.
        claimed = won and Level2Offer.objects.filter(
            pk=offer.pk, status=OfferStatus.PENDING
        ).update(status=OfferStatus.ACCEPTED, answered_at=now)
        if not claimed:
            current = Level2Offer.objects.filter(pk=offer.pk).values_list("status", flat=True)
            if current.first() == OfferStatus.DECLINED:
                raise ApplicationError("Vous avez décliné cette demande.", code="offer_declined")
            raise ApplicationError(
                "Déjà pris en charge par un confrère. Merci !", code="already_taken"
            )
        call = Level2Call.objects.select_related("request").get(pk=offer.call_id)
        if not professional_in_sas_scope(
            professional=professional, scope=Scope(sas_ids=frozenset({call.request.sas_id}))
        ):
            raise NotFound("Cette demande n'est pas de votre territoire.")
        slot = _adhoc_slot(professional=professional, start=start, request=call.request)
        # The signed link and the offer were the checks: the booking itself is internal.
        booking = booking_create(
            request=call.request,
            slot=slot,
            operator=professional.user,
            channel=BookingChannel.UI,
            kind=BookingKind.NIVEAU2,
            scope=SYSTEM,
        )
        Level2Call.objects.filter(pk=call.pk).update(booking=booking)
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
