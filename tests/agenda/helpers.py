"""Helpers shared by the agenda tests."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from relais.agenda.models import Slot, SlotStatus
from relais.agenda.services import RuleInput
from relais.orientation.models import Booking, BookingStatus
from relais.regulation.models import RequestStatus
from tests import factories as f

PARIS = ZoneInfo("Europe/Paris")


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def rule_input(pro, **overrides) -> RuleInput:
    values = {
        "practice": pro.practices.first(),
        "weekdays": [1, 3],  # Tuesday, Thursday
        "start_time": time(17),
        "end_time": time(19),
        "slot_minutes": 20,
        "for_sas": True,
        "for_cpts": False,
        "for_public": False,
    }
    values.update(overrides)
    return RuleInput(**values)


def free_slots(pro):
    return Slot.objects.filter(professional=pro, status=SlotStatus.FREE).order_by("start", "place")


def book(slot, *, status=BookingStatus.BOOKED) -> Booking:
    """A booking written directly (the booking service refuses past slots)."""
    Slot.objects.filter(pk=slot.pk).update(status=SlotStatus.BOOKED)
    request = f.RequestFactory(
        status=RequestStatus.BOOKED if status == BookingStatus.BOOKED else RequestStatus.DONE
    )
    return Booking.objects.create(request=request, slot=slot, channel="ui", status=status)
