from datetime import datetime
from uuid import UUID

from ninja import Field, Schema


class SlotOut(Schema):
    id: UUID
    start: datetime
    end: datetime
    modality: str
    professional: str
    professional_id: UUID
    profession: str
    practice: str
    address: str
    commune: str
    level: int
    level_label: str
    distance_km: float | None
    places_left: int = 1


class HoldIn(Schema):
    request: UUID
    slot: UUID
    minutes: int | None = Field(None, ge=1, le=15)


class HoldOut(Schema):
    slot: UUID
    held_until: datetime


class SurnumeraireIn(Schema):
    professional: UUID
    start: datetime


class Level2Out(Schema):
    id: UUID
    request: UUID
    status: str
    radius_km: float
    offers: int
    deadline: datetime
    accepted_by: str | None


def level2_out(call) -> dict:
    return {
        "id": call.public_id,
        "request": call.request.public_id,
        "status": call.status,
        "radius_km": call.radius_km,
        "offers": call.offers.count(),
        "deadline": call.deadline,
        "accepted_by": call.accepted_by.display_name if call.accepted_by else None,
    }


def ranked_slot_out(r) -> dict:
    slot = r.slot
    return {
        "id": str(slot.public_id),
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "modality": slot.modality,
        "professional": slot.professional.display_name,
        "professional_id": str(slot.professional.public_id),
        "profession": slot.professional.profession,
        "practice": slot.practice.name,
        "address": slot.practice.address,
        "commune": slot.practice.commune.name,
        "level": r.level,
        "level_label": r.level_label,
        "distance_km": round(r.distance_km, 1) if r.distance_km is not None else None,
        "places_left": r.places_left,
    }


class BookingIn(Schema):
    request: UUID
    slot: UUID


class BookingOut(Schema):
    id: UUID
    request: UUID
    slot: UUID
    status: str
    channel: str
    start: datetime
    professional: str
    created_at: datetime


def booking_out(b) -> dict:
    return {
        "id": b.public_id,
        "request": b.request.public_id,
        "slot": b.slot.public_id,
        "status": b.status,
        "channel": b.channel,
        "start": b.slot.start,
        "professional": b.slot.professional.display_name,
        "created_at": b.created_at,
    }


class CancelIn(Schema):
    reason: str = ""
