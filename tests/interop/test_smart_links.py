"""SMART Scheduling Links: the ported checks of smart-on-fhir/smart-scheduling-links and
of inferno-framework/smart-scheduling-links-test-kit (tests/interop/smart_checks.py) on
our `$bulk-publish` feed, and the public booking page its deep links open."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from relais.agenda.models import SlotStatus
from relais.interop.smart import bulk_publish_files
from tests import factories as f
from tests.interop.smart_checks import django_get, run_checks

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
# A Wednesday, 10:00 in Paris: inside the CPTS's service hours below.
WEDNESDAY_10 = datetime(2026, 12, 2, 10, 0, tzinfo=PARIS)
HOURS = {str(day): [["08:00", "20:00"]] for day in range(1, 8)}


@pytest.fixture
def open_cpts(cpts_a):
    cpts_a.service_hours = HOURS
    cpts_a.phone = "0169000000"
    cpts_a.save()
    return cpts_a


@pytest.fixture
def feed(open_cpts):
    """Two professionals, three places (one professional works in two), public and
    non-public slots."""
    with time_machine.travel(WEDNESDAY_10, tick=True):
        first = f.ProfessionalFactory(cpts=open_cpts)
        second = f.ProfessionalFactory(cpts=open_cpts, practice_in="91174")
        other_place = f.ProfessionalFactory(practice_in="91549").practices.first()
        other_place.professionals.add(first)
        start = WEDNESDAY_10 + timedelta(hours=2)
        slots = [
            f.SlotFactory(professional=first, for_public=True, start=start),
            f.SlotFactory(
                professional=first,
                practice=other_place,
                for_public=True,
                start=start + timedelta(hours=1),
            ),
            f.SlotFactory(professional=second, for_public=True, start=start),
            f.SlotFactory(professional=second, start=start + timedelta(hours=2)),  # not public
        ]
        yield slots


def _run(client):
    return run_checks(
        django_get(client), "http://testserver/fhir/$bulk-publish", public_get=django_get(Client())
    )


def test_it_passes_every_ported_smart_check(client, feed):
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=5), tick=True):
        results = _run(client)
    failed = [(check, detail) for check, ok, detail in results if not ok]
    print(f"SMART checks passed: {len(results) - len(failed)}/{len(results)}")
    assert len(results) >= 35
    assert failed == []


def test_it_fails_the_checks_a_wrong_feed_would_fail(client, feed, monkeypatch):
    """The checker is not blind: a Schedule with two actors, a Location without state and
    a deep link behind the staff login are each caught (the state of the feed before
    issue 16, item 8)."""
    from relais.interop import smart

    real_location = smart.smart_location

    def location_without_state(practice):
        resource = real_location(practice)
        resource["address"].pop("state")
        return resource

    def staff_link(slot):
        from django.conf import settings
        from django.urls import reverse

        return settings.SITE_URL + reverse("interop:slot_open", args=[slot.public_id])

    monkeypatch.setattr(smart, "smart_location", location_without_state)
    monkeypatch.setattr(smart, "public_booking_link", staff_link)
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=5), tick=True):
        bulk_publish_files()
        failed = {check for check, ok, _ in _run(client) if not ok}
    assert {"location.address", "slot.deep_link_public"} <= failed


def test_it_gives_each_schedule_one_location_actor(client, feed):
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=5), tick=True):
        bulk_publish_files()
    import json

    from relais.interop.smart import bulk_dir

    schedules = [json.loads(x) for x in (bulk_dir() / "Schedule.ndjson").read_text().splitlines()]
    locations = [json.loads(x) for x in (bulk_dir() / "Location.ndjson").read_text().splitlines()]
    assert len(schedules) == 3 and len(locations) == 3
    assert all(len(s["actor"]) == 1 for s in schedules)
    assert {s["actor"][0]["reference"] for s in schedules} == {
        f"Location/{loc['id']}" for loc in locations
    }
    # address.state: the région (Essonne -> Île-de-France when the référentiel has it),
    # the same value as the manifest's `state` hint.
    states = {loc["address"]["state"] for loc in locations}
    assert all(states)
    assert set(json.loads((bulk_dir() / "manifest.json").read_text())["states"]) == states
    assert all(loc["identifier"][0]["value"] == loc["id"] for loc in locations)


def test_it_opens_the_public_booking_page_without_login(feed, open_cpts):
    slot = feed[0]
    anonymous = Client()
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=5), tick=True):
        response = anonymous.get(f"/interop/rdv/{slot.public_id}/?source=x&booking-referral=y")
    assert response.status_code == 200
    page = response.content.decode()
    assert slot.professional.display_name in page
    # The web channel's door: the CPTS web form (red-flag questions, consent).
    assert f"/demande-en-ligne/{open_cpts.public_id}/" in page
    assert "max-age=0" in response["Cache-Control"]


def test_it_shows_the_closed_page_outside_the_service_hours(feed):
    slot = feed[0]
    late = datetime(2026, 12, 2, 21, 30, tzinfo=PARIS)
    with time_machine.travel(late, tick=False):
        response = Client().get(f"/interop/rdv/{slot.public_id}/")
    assert response.status_code == 200
    assert "Le service en ligne est fermé" in response.content.decode()
    assert "/demande-en-ligne/" not in response.content.decode()


def test_it_says_a_taken_slot_is_gone_and_hides_non_public_ones(feed):
    taken, hidden = feed[0], feed[3]
    taken.status = SlotStatus.BOOKED
    taken.save(update_fields=["status"])
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=5), tick=True):
        gone = Client().get(f"/interop/rdv/{taken.public_id}/")
        assert gone.status_code == 410
        assert "plus disponible" in gone.content.decode()
        assert Client().get(f"/interop/rdv/{hidden.public_id}/").status_code == 404
        assert Client().post(f"/interop/rdv/{taken.public_id}/").status_code == 404
