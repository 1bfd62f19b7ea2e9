"""Reads for the agenda."""

from relais.agenda.models import Slot


def slot_get(*, public_id) -> Slot | None:
    """A slot by public id, for booking. Bookability is decided atomically by the
    booking service, never here."""
    return (
        Slot.objects.select_related("professional", "practice__commune")
        .filter(public_id=public_id)
        .first()
    )
