from uuid import UUID

from django.http import Http404
from ninja import Header, Router, Status

from relais.accounts.api_auth import require_api
from relais.agenda.models import Modality
from relais.agenda.selectors import slot_get
from relais.core.db_routing import lag_tolerant
from relais.core.errors import ApplicationError, NotFound
from relais.orientation.models import BookingChannel
from relais.orientation.schemas import (
    BookingIn,
    BookingOut,
    CancelIn,
    HoldIn,
    HoldOut,
    Level2Out,
    SlotOut,
    SurnumeraireIn,
    booking_out,
    level2_out,
    ranked_slot_out,
)
from relais.orientation.selectors import (
    booking_get_for_user,
    level2_calls_of,
    professional_get_surnumeraire,
    slots_ranked_for,
)
from relais.orientation.services import (
    booking_cancel,
    booking_place,
    level2_launch,
    slot_hold,
    slot_release,
    surnumeraire_address,
)
from relais.regulation.selectors import request_get_for_booking, request_get_for_user

router = Router(tags=["orientation"])


def _load_request(scope, public_id, selector=request_get_for_user):
    try:
        return selector(scope=scope, public_id=public_id)
    except Http404:
        raise NotFound("Demande introuvable.") from None


def _client_name(request) -> str:
    return getattr(getattr(request, "api_client", None), "name", "")


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
    user = None if getattr(request, "api_client", None) else request.auth
    ranked = lag_tolerant()(slots_ranked_for)(
        request=req, widen=widen, modality=modality, user=user, scope=scope
    )
    return [ranked_slot_out(r) for r in ranked]


@router.post(
    "/bookings",
    response={201: BookingOut},
    summary="Réserver un créneau pour une demande",
    description=(
        "Atomique : un créneau n'est jamais donné deux fois. 409 `slot_unavailable` (ou "
        "`professional_capacity_reached`) si le créneau n'est plus libre, sans nouvelle "
        "recherche : `alternatives` reprend les créneaux encore libres du dernier classement "
        "que l'appelant a obtenu pour cette demande (`GET /requests/{id}/slots`, gardé "
        "10 minutes ; liste vide sinon), `alternatives_url` donne ce classement à jour. "
        "En-tête `Idempotency-Key` recommandé."
    ),
)
def create_booking(request, payload: BookingIn, idempotency_key: str | None = Header(None)):
    scope = require_api(request, "booking.create")
    req = _load_request(scope, payload.request, request_get_for_booking)
    slot = slot_get(public_id=payload.slot)
    if slot is None:
        raise NotFound("Créneau introuvable.")
    user, channel, owner = _caller(request)
    booking = booking_place(
        request=req,
        slot=slot,
        operator=user,
        channel=channel,
        idempotency_key=(idempotency_key or "")[:100] or None,
        idempotency_owner=owner,
        api_client=_client_name(request),
        scope=scope,
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
    booking = booking_cancel(
        booking=booking,
        actor=user,
        reason=payload.reason[:200],
        scope=scope,
        api_client=_client_name(request),
    )
    return booking_out(booking)


def _load_slot(public_id):
    slot = slot_get(public_id=public_id)
    if slot is None:
        raise NotFound("Créneau introuvable.")
    return slot


def _user_of(request):
    if getattr(request, "api_client", None) is not None:
        raise ApplicationError(
            "Les retenues sont réservées aux opérateurs connectés.", code="forbidden"
        )
    return request.auth


@router.post("/holds", response={201: HoldOut}, summary="Retenir un créneau quelques minutes")
def create_hold(request, payload: HoldIn):
    scope = require_api(request, "booking.create")
    req = _load_request(scope, payload.request)
    slot = slot_hold(
        slot=_load_slot(payload.slot),
        user=_user_of(request),
        request=req,
        minutes=payload.minutes,
        scope=scope,
    )
    return Status(201, {"slot": slot.public_id, "held_until": slot.held_until})


@router.delete("/holds/{slot_id}", response={204: None}, summary="Libérer un créneau retenu")
def delete_hold(request, slot_id: UUID):
    require_api(request, "booking.create")
    if not slot_release(slot=_load_slot(slot_id), user=_user_of(request)):
        raise NotFound("Aucune retenue de votre part sur ce créneau.")
    return Status(204, None)


@router.post(
    "/requests/{request_id}/surnumeraire",
    response={201: BookingOut},
    summary="Adresser le patient en surnuméraire à un médecin, à une heure choisie",
)
def create_surnumeraire(request, request_id: UUID, payload: SurnumeraireIn):
    scope = require_api(request, "booking.create")
    req = _load_request(scope, request_id)
    pro = professional_get_surnumeraire(public_id=payload.professional)
    if pro is None:
        raise NotFound("Médecin introuvable ou n'acceptant pas de surnuméraire.")
    user, channel, _ = _caller(request)
    booking = surnumeraire_address(
        request=req,
        professional=pro,
        start=payload.start,
        operator=user,
        scope=scope,
        channel=channel,
        api_client=_client_name(request),
    )
    return Status(201, booking_out(booking))


@router.post(
    "/requests/{request_id}/level2",
    response={201: Level2Out},
    summary="Lancer un appel de niveau 2 (volontaires de la CPTS)",
)
def create_level2(request, request_id: UUID):
    scope = require_api(request, "request.orient")
    req = _load_request(scope, request_id)
    user, _, _ = _caller(request)
    return Status(201, level2_out(level2_launch(request=req, user=user, scope=scope)))


@router.get("/requests/{request_id}/level2", response=list[Level2Out], summary="Appels de niveau 2")
def list_level2(request, request_id: UUID):
    scope = require_api(request, "request.view")
    req = _load_request(scope, request_id)
    return [level2_out(c) for c in level2_calls_of(request=req)]
