"""An agenda that tells the truth (issue 19, item 4): both weeks of the horizon reachable,
messages stating what happened, absences shown as entered and never duplicated, booked
patients listed when a change strands them."""

import re

import pytest
import time_machine
from django.urls import reverse

from relais.agenda.models import AvailabilityException, AvailabilityRule, Slot, SlotStatus
from tests import factories as f
from tests.agenda.helpers import book, paris
from tests.conftest import login

pytestmark = pytest.mark.django_db
MONDAY = paris(2026, 11, 30, 8)
RULE_POST = {
    "weekdays": ["1", "3"],
    "start_time": "17:00",
    "end_time": "19:00",
    "kind": "slots",
    "slot_minutes": "20",
    "capacity": "1",
    "modality": "cabinet",
    "channels": ["for_sas"],
    "motifs": "",
    "skip_public_holidays": "on",
}


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY, tick=False):
        yield


def url(name, pro, **kwargs):
    return reverse(f"agenda:{name}", kwargs={"pro": pro.public_id, **kwargs})


def _rule(client, pro, **changes):
    post = {**RULE_POST, "practice": str(pro.practices.first().public_id), **changes}
    return client.post(url("rule_new", pro), post, follow=True)


def test_it_shows_the_second_week_of_the_horizon(client, dr_alice, clock):
    """Before: 7 of the 14 published days, no way to see the second week."""
    login(client, dr_alice.user)
    _rule(client, dr_alice)
    second_week = Slot.objects.filter(professional=dr_alice, start__gte=paris(2026, 12, 7))
    assert second_week.exists()
    page = client.get(url("agenda", dr_alice))
    assert "Semaine suivante" in page.text and "?semaine=1" in page.text
    assert "10 décembre" not in page.text
    week2 = client.get(url("agenda", dr_alice), {"semaine": "1"})
    assert "du 7 décembre au 13 décembre" in week2.text
    assert "Semaine précédente" in week2.text and "?semaine=2" not in week2.text
    assert week2.text.count('class="slot"') == second_week.count()
    # Out of range or malformed: the first week, never an error.
    for value in ("99", "-1", "x"):
        assert "du 30 novembre" in client.get(url("agenda", dr_alice), {"semaine": value}).text


def test_it_says_how_many_slots_a_rule_published(client, dr_alice, clock):
    login(client, dr_alice.user)
    response = _rule(client, dr_alice)
    assert "Règle enregistrée : 24 créneau(x) publié(s) d&#x27;ici le 13/12/2026." in response.text


def test_it_never_says_published_when_nothing_was(client, dr_alice, clock):
    """Before: "vos créneaux sont publiés" with zero slots created."""
    login(client, dr_alice.user)
    response = _rule(client, dr_alice, valid_from="2027-02-01")
    assert not Slot.objects.filter(professional=dr_alice).exists()
    assert "publiés" not in response.text
    assert "aucun créneau publié pour l&#x27;instant : la règle commence le 01/02/2027" in (
        response.text
    )


def test_it_says_which_occurrences_an_absence_kept_out(client, dr_alice, clock):
    login(client, dr_alice.user)
    client.post(
        url("absence_new", dr_alice),
        {"kind": "vacation", "first_day": "2026-12-01", "last_day": "2026-12-03"},
    )
    response = _rule(client, dr_alice)
    assert "12 pendant une absence" in response.text


def test_it_shows_an_absence_as_entered_and_refuses_it_twice(client, dr_alice, clock):
    """Before: "9–10 (inclus)" shown as ending "11/12 00:00"; duplicates accepted."""
    login(client, dr_alice.user)
    post = {"kind": "vacation", "first_day": "2026-12-09", "last_day": "2026-12-10"}
    first = client.post(url("absence_new", dr_alice), post, follow=True)
    assert "Absence enregistrée du 09/12/2026 au 10/12/2026 inclus" in first.text
    assert "Congés du 09/12/2026 au 10/12/2026 inclus" in first.text
    assert "11/12/2026 00:00" not in first.text
    again = client.post(url("absence_new", dr_alice), post, follow=True)
    assert "Une absence est déjà enregistrée sur cette période" in again.text
    assert AvailabilityException.objects.count() == 1


def test_it_lists_the_booked_patients_an_absence_strands(client, dr_alice, clock):
    slot = f.SlotFactory(professional=dr_alice, start=paris(2026, 12, 2, 10))
    booking = book(slot)
    login(client, dr_alice.user)
    response = client.post(
        url("absence_new", dr_alice),
        {"kind": "vacation", "first_day": "2026-12-02", "last_day": "2026-12-02"},
        follow=True,
    )
    assert "1 rendez-vous déjà pris" in response.text
    assert f"02/12 10:00 {booking.request.patient}" in response.text


def test_it_lists_the_booked_patients_a_rule_change_strands(client, dr_alice, clock):
    login(client, dr_alice.user)
    _rule(client, dr_alice)
    rule = AvailabilityRule.objects.get()
    tuesday = Slot.objects.filter(rule=rule, start=paris(2026, 12, 1, 17)).get()
    booking = book(tuesday)
    response = client.post(
        url("rule_edit", dr_alice, rule_id=rule.public_id),
        {**RULE_POST, "weekdays": ["3"], "practice": str(dr_alice.practices.first().public_id)},
        follow=True,
    )
    assert "1 rendez-vous déjà pris ne sont plus dans cette règle" in response.text
    assert f"01/12 17:00 {booking.request.patient}" in response.text
    tuesday.refresh_from_db()
    assert tuesday.status == SlotStatus.BOOKED  # kept, never cancelled silently
    # Deleting the rule lists it too.
    deleted = client.post(url("rule_remove", dr_alice, rule_id=rule.public_id), follow=True)
    assert f"01/12 17:00 {booking.request.patient}" in deleted.text


def test_it_chooses_motifs_by_their_label(client, dr_alice, clock):
    """Before: motifs typed as CISP-2 codes."""
    login(client, dr_alice.user)
    page = client.get(url("rule_new", dr_alice))
    assert re.search(r"Otite[^<(]*\(H71\)", page.text)
    assert 'type="checkbox" name="motifs" value="H71"' in page.text
    assert "relais/agenda.js" in page.text
    _rule(client, dr_alice, motifs=["H71", "r74"])
    rule = AvailabilityRule.objects.get()
    assert sorted(m.code for m in rule.motifs.all()) == ["H71", "R74"]
    edit = client.get(url("rule_edit", dr_alice, rule_id=rule.public_id))
    assert re.search(r'value="H71" id="id_motifs_\d+" checked', edit.text)
    assert not re.search(r'value="A03" id="id_motifs_\d+" checked', edit.text)
    wrong = _rule(client, dr_alice, motifs=["ZZZ9"], weekdays=["5"])
    assert "Motif inconnu : ZZZ9." in wrong.text
