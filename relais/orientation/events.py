"""What orientation publishes for the apps above it: orientation never imports them
(interop depends on orientation, never the reverse; contract `orientation-below-interop`
in pyproject.toml, checked by import-linter).

- `booking_changed`: every booking created or changed (status, outcome, cancellation)
  is published inside the booking's transaction; a subscriber writes its own outbox row
  there (interop: the SasReport of INT_R03 and its queued task), so a rolled-back booking
  publishes nothing.
- the mirror booker: a slot mirrored from a partner's software is booked only by the
  one booker registered for mirrors (interop: partner_slot_book, which asks the partner
  first); with none registered, a mirror is refused, never booked behind the partner.

Subscribers register from their AppConfig.ready()."""

from collections.abc import Callable

from relais.core.errors import ApplicationError

_booking_changed: list[Callable] = []
_mirror_booker: list[Callable] = []


def subscribe_booking_changed(handler: Callable) -> None:
    if handler not in _booking_changed:
        _booking_changed.append(handler)


def publish_booking_changed(*, booking) -> None:
    """Call inside the booking's transaction."""
    for handler in list(_booking_changed):
        handler(booking=booking)


def register_mirror_booker(booker: Callable) -> None:
    _mirror_booker[:] = [booker]


def mirror_booker() -> Callable:
    if not _mirror_booker:
        raise ApplicationError(
            "Ce créneau vient du logiciel d'agenda d'un partenaire : il ne peut être réservé "
            "qu'avec sa confirmation, indisponible ici.",
            code="partner_unavailable",
        )
    return _mirror_booker[0]
