"""Slot.latitude / longitude are the practice's, kept by database triggers (migration
agenda 0005) whatever writes the slot; the ranked search filters dense areas on them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relais.agenda.models import Slot
from relais.directory.models import Practice
from tests import factories as f

pytestmark = pytest.mark.django_db


def coordinates(slot):
    return tuple(Slot.objects.filter(pk=slot.pk).values_list("latitude", "longitude").get())


def test_a_created_slot_gets_its_practice_coordinates():
    slot = f.SlotFactory()
    practice = slot.practice
    assert coordinates(slot) == (practice.latitude, practice.longitude)
    assert practice.latitude is not None


def test_bulk_created_slots_and_a_saved_slot_keep_them():
    pro = f.ProfessionalFactory()
    practice = pro.practices.first()
    start = timezone.now() + timedelta(hours=5)
    [bulk] = Slot.objects.bulk_create(
        [
            Slot(
                professional=pro,
                practice=practice,
                start=start,
                end=start + timedelta(minutes=20),
            )
        ]
    )
    assert coordinates(bulk) == (practice.latitude, practice.longitude)
    bulk = Slot.objects.get(pk=bulk.pk)
    bulk.latitude = None  # what a stale instance would write back
    bulk.save()
    assert coordinates(bulk) == (practice.latitude, practice.longitude)


def test_they_follow_a_practice_change_and_a_practice_move():
    slot = f.SlotFactory()
    other = f.ProfessionalFactory(practice_in="91223").practices.first()
    Slot.objects.filter(pk=slot.pk).update(practice=other)
    assert coordinates(slot) == (other.latitude, other.longitude)
    Practice.objects.filter(pk=other.pk).update(latitude=45.0, longitude=4.0)
    assert coordinates(slot) == (45.0, 4.0)
