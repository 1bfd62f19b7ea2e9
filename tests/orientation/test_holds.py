from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from relais.agenda.models import SlotStatus
from relais.orientation.selectors import slots_ranked_for
from relais.orientation.services import (
    SlotUnavailable,
    booking_create,
    holds_expire,
    slot_hold,
    slot_release,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_it_keeps_a_held_slot_for_its_holder_only(olivia, regis, cpts_a):
    slot = f.SlotFactory()
    req = f.RequestFactory()
    slot_hold(slot=slot, user=olivia, request=req)
    slot.refresh_from_db()
    assert slot.status == SlotStatus.HELD and slot.held_by == olivia
    with pytest.raises(SlotUnavailable):
        slot_hold(slot=slot, user=regis)
    with pytest.raises(SlotUnavailable):
        booking_create(request=f.RequestFactory(), slot=slot, operator=regis)
    with pytest.raises(SlotUnavailable):
        booking_create(request=f.RequestFactory(), slot=slot)  # an API client
    booking = booking_create(request=req, slot=slot, operator=olivia)
    slot.refresh_from_db()
    assert booking.slot == slot
    assert slot.status == SlotStatus.BOOKED and slot.held_by is None


def test_it_lets_a_hold_lapse(olivia, regis, cpts_a):
    slot = f.SlotFactory()
    slot_hold(slot=slot, user=olivia, minutes=3)
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        assert booking_create(request=f.RequestFactory(), slot=slot, operator=regis)


def test_it_renews_releases_and_sweeps_holds(olivia, regis, cpts_a):
    slot = f.SlotFactory()
    slot_hold(slot=slot, user=olivia, minutes=1)
    first_until = slot.held_until
    slot_hold(slot=slot, user=olivia, minutes=5)
    assert slot.held_until > first_until
    assert slot_release(slot=slot, user=regis) is False
    assert slot_release(slot=slot, user=olivia) is True
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE
    slot_hold(slot=slot, user=regis, minutes=1)
    assert holds_expire() == 0
    assert holds_expire(now=timezone.now() + timedelta(minutes=2)) == 1
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE and slot.held_by is None


def test_it_hides_other_operators_holds_from_the_search(olivia, regis, cpts_a):
    held, free = f.SlotFactory(), f.SlotFactory(start=timezone.now() + timedelta(hours=4))
    req = f.RequestFactory()
    slot_hold(slot=held, user=olivia, request=req)
    assert [r.slot for r in slots_ranked_for(request=req, user=regis)] == [free]
    mine = slots_ranked_for(request=req, user=olivia)
    assert [(r.slot, r.held_by_me) for r in mine] == [(held, True), (free, False)]


def test_it_shows_a_plage_once_with_its_places_left(cpts_a):
    pro = f.ProfessionalFactory()
    start = timezone.now() + timedelta(hours=2)
    places = [
        f.SlotFactory(
            professional=pro, start=start, end=start + timedelta(hours=2), is_plage=True, place=i
        )
        for i in range(3)
    ]
    req = f.RequestFactory()
    booking_create(request=f.RequestFactory(), slot=places[0])
    ranked = slots_ranked_for(request=req)
    assert len(ranked) == 1
    assert ranked[0].places_left == 2
    assert ranked[0].slot == places[1]
