from datetime import datetime
from uuid import UUID

from ninja import Schema


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
