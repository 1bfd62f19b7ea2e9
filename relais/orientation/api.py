from uuid import UUID

from django.http import Http404
from ninja import Header, Router, Status

from relais.agenda.models import Modality
from relais.agenda.selectors import slot_get
from relais.api import require_api
from relais.core.errors import NotFound
from relais.orientation.models import BookingChannel
from relais.orientation.schemas import (
    BookingIn,
    BookingOut,
    CancelIn,
    SlotOut,
    booking_out,
    ranked_slot_out,
)
from relais.orientation.selectors import booking_get_for_user, slots_ranked_for
from relais.orientation.services import booking_cancel, booking_create
from relais.regulation.selectors import request_get_for_user

router = Router(tags=["orientation"])


def _load_request(scope, public_id):
    try:
        return request_get_for_user(scope=scope, public_id=public_id)
    except Http404:
        raise NotFound("Demande introuvable.") from None


def _caller(request) -> tuple[object | None, str, str]:
    client = getattr(request, "api_client", None)
    if client is not None:
        return None, BookingChannel.API, f"client:{client.pk}"
    return request.auth, BookingChannel.API, f"user:{request.auth.pk}"


@router.get(
    "/requests/{request_id}/slots",
    response=list[SlotOut],
    summary="Créneaux libres classés pour une demande",
)
def ranked_slots(request, request_id: UUID, widen: bool = False, modality: Modality | None = None):
    scope = require_api(request, "request.orient")
    req = _load_request(scope, request_id)
    return [
        ranked_slot_out(r) for r in slots_ranked_for(request=req, widen=widen, modality=modality)
    ]


@router.post(
    "/bookings",
    response={201: BookingOut},
    summary="Réserver un créneau pour une demande",
    description=(
        "Atomique : un créneau n'est jamais donné deux fois. 409 `slot_unavailable` avec "
        "`alternatives` si le créneau n'est plus libre. En-tête `Idempotency-Key` recommandé."
    ),
)
def create_booking(request, payload: BookingIn, idempotency_key: str | None = Header(None)):
    scope = require_api(request, "booking.create")
    req = _load_request(scope, payload.request)
    slot = slot_get(public_id=payload.slot)
    if slot is None:
        raise NotFound("Créneau introuvable.")
    user, channel, owner = _caller(request)
    booking = booking_create(
        request=req,
        slot=slot,
        operator=user,
        channel=channel,
        idempotency_key=(idempotency_key or "")[:100] or None,
        idempotency_owner=owner,
    )
    return Status(201, booking_out(booking))


@router.post("/bookings/{booking_id}/cancel", response=BookingOut, summary="Annuler un rendez-vous")
def cancel_booking(request, booking_id: UUID, payload: CancelIn):
    scope = require_api(request, "booking.cancel")
    try:
        booking = booking_get_for_user(scope=scope, public_id=booking_id)
    except Http404:
        raise NotFound("Rendez-vous introuvable.") from None
    user, _, _ = _caller(request)
    booking = booking_cancel(booking=booking, actor=user, reason=payload.reason[:200])
    return booking_out(booking)
