"""Agenda writes racing in parallel threads, each with its own database connection."""

from datetime import time

import pytest
from django.db import connection

from relais.agenda.models import AvailabilityRule, Slot, SlotStatus
from relais.agenda.services import rule_create, slots_materialise
from tests.agenda.helpers import rule_input
from tests.concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs it there)")


def test_it_accepts_only_one_of_two_overlapping_rules_saved_at_once(dr_alice):
    first = rule_input(dr_alice, weekdays=[1, 2, 3, 4, 5, 6, 0])
    second = rule_input(dr_alice, weekdays=[3], start_time=time(18), end_time=time(20))
    outcomes = race(
        [
            lambda: rule_create(professional=dr_alice, data=first),
            lambda: rule_create(professional=dr_alice, data=second),
        ]
    )
    assert sorted(o.split(" (")[0] for o in outcomes) == [
        "ok",
        "refused:Cette règle chevauche une autre de vos règles",
    ]
    assert AvailabilityRule.objects.count() == 1


def test_it_keeps_one_row_per_place_when_materialisations_race(dr_alice):
    AvailabilityRule.objects.create(
        professional=dr_alice,
        practice=dr_alice.practices.first(),
        weekdays=list(range(7)),
        start_time=time(8),
        end_time=time(20),
        slot_minutes=15,
    )
    outcomes = race([slots_materialise] * 4)
    assert outcomes == ["ok"] * 4
    starts = list(
        Slot.objects.filter(professional=dr_alice)
        .exclude(status=SlotStatus.BLOCKED)
        .values_list("start", "place")
    )
    assert starts and len(starts) == len(set(starts))
    assert slots_materialise().created == 0
