"""Issue 16, item 10: interop depends on orientation, never the reverse. Orientation
publishes (relais.orientation.events), interop subscribes in its AppConfig.ready()."""

from pathlib import Path

import pytest

from relais.orientation import events

ROOT = Path(__file__).resolve().parents[2]


def test_it_keeps_the_booking_apps_below_interop():
    """The import-linter contract of pyproject.toml (before item 10: broken, by
    orientation.services importing interop.services twice)."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_it_subscribes_interop_to_what_orientation_publishes():
    from relais.interop.services import appointment_report_enqueue, partner_slot_book

    assert appointment_report_enqueue in events._booking_changed
    assert events.mirror_booker() is partner_slot_book


@pytest.mark.django_db
def test_it_refuses_a_mirror_when_no_booker_is_registered(monkeypatch, cpts_a):
    from relais.core.errors import ApplicationError
    from relais.orientation.services import booking_place
    from tests import factories as f

    monkeypatch.setattr(events, "_mirror_booker", [])
    slot = f.SlotFactory(source="agenda-x", external_id="e1")
    with pytest.raises(ApplicationError) as refused:
        booking_place(request=f.RequestFactory(), slot=slot)
    assert refused.value.code == "partner_unavailable"
    slot.refresh_from_db()
    assert slot.status == "free"


@pytest.mark.django_db
def test_it_never_books_a_mirror_directly_whatever_the_caller(cpts_a):
    """booking_create itself refuses a partner's mirror without the partner path's hold
    token: a door that calls it directly (a page, a deep link) cannot book behind the
    partner's back."""
    from relais.core.errors import ApplicationError
    from relais.orientation.models import Booking
    from relais.orientation.services import booking_create
    from tests import factories as f

    slot = f.SlotFactory(source="agenda-x", external_id="e1")
    with pytest.raises(ApplicationError) as refused:
        booking_create(request=f.RequestFactory(), slot=slot)
    assert refused.value.code == "partner_slot"
    assert not Booking.objects.exists()
    local = f.SlotFactory(source="ics", professional=slot.professional, start=slot.end)
    assert booking_create(request=f.RequestFactory(), slot=local).slot == local
