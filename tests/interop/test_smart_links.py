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


def _form_link(page: str) -> str:
    import html
    import re

    found = re.search(r'href="(/demande-en-ligne/[^"]+)"', page)
    assert found, "no link to the web form"
    return html.unescape(found[1])


def test_the_public_page_carries_the_chosen_slot_into_the_stored_request(
    feed, open_cpts, settings, olivia
):
    """interop:public_slot -> the CPTS web form with the slot as a signed token (no
    patient data in the address) -> the stored web request keeps that slot for the
    operator who calls back; the red-flag questions and ALTCHA still apply."""
    from relais.regulation.models import Request
    from tests.regulation.test_web_abuse import _solved_payload
    from tests.regulation.test_web_channel import answers

    settings.RELAIS_WEB_FORM_POW = True
    settings.RELAIS_WEB_FORM_POW_COST = 50
    slot = feed[0]
    patient = answers(commune="91228")
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=5), tick=True):
        page = Client().get(f"/interop/rdv/{slot.public_id}/").content.decode()
        link = _form_link(page)
        assert link.startswith(f"/demande-en-ligne/{open_cpts.public_id}/?creneau=")
        assert str(slot.public_id) not in link  # signed, not the bare id
        browser = Client()
        form = browser.get(link).content.decode()
        assert "Créneau choisi" in form and slot.professional.display_name in form
        # A red flag: "Appelez le 15", nothing stored, the slot not taken.
        red = browser.post(link, patient | {"rf_thorax": "oui", "altcha": _solved_payload(form)})
        assert "Appelez le 15 maintenant" in red.content.decode()
        assert not Request.objects.exists()
        # Without the proof of work: refused, nothing stored.
        refused = browser.post(link, patient)
        assert refused.status_code == 400 and not Request.objects.exists()
        done = browser.post(link, patient | {"altcha": _solved_payload(form)})
        assert "Demande enregistrée" in done.content.decode()
    req = Request.objects.get()
    assert req.channel == "web" and req.wanted_slot == slot
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE  # the web channel books nothing by itself
    # The operator who calls back sees the patient's choice on the request.
    staff = Client()
    staff.force_login(olivia)
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=20), tick=True):
        detail = staff.get(f"/demandes/{req.public_id}/").content.decode()
    assert "Créneau choisi en ligne" in detail and slot.professional.display_name in detail


def test_a_forged_stale_or_foreign_slot_token_stores_the_request_without_a_slot(
    feed, open_cpts, cpts_b
):
    from django.core import signing

    from relais.regulation.models import Request
    from relais.regulation.web import SLOT_TOKEN_SALT, chosen_slot_token
    from tests.regulation.test_web_channel import answers

    slot, not_public = feed[0], feed[3]
    other = f.SlotFactory(
        professional=f.ProfessionalFactory(cpts=cpts_b),
        for_public=True,
        start=WEDNESDAY_10 + timedelta(hours=3),
    )
    url = f"/demande-en-ligne/{open_cpts.public_id}/"
    with time_machine.travel(WEDNESDAY_10 + timedelta(minutes=5), tick=True):
        tokens = [
            "x" * 40,  # forged
            signing.dumps(str(slot.public_id), salt="another salt"),
            chosen_slot_token(not_public),  # not open to the public
            chosen_slot_token(other),  # another CPTS's professional
        ]
        taken = chosen_slot_token(feed[2])
        feed[2].status = SlotStatus.BOOKED
        feed[2].save(update_fields=["status"])
        tokens.append(taken)  # taken since the page was shown
        for token in tokens:
            response = Client().post(f"{url}?creneau={token}", answers())
            assert "Demande enregistrée" in response.content.decode()
        assert signing.loads(chosen_slot_token(slot), salt=SLOT_TOKEN_SALT) == str(slot.public_id)
        tomorrow = f.SlotFactory(
            professional=slot.professional, for_public=True, start=WEDNESDAY_10 + timedelta(days=1)
        )
        old = chosen_slot_token(tomorrow)
    with time_machine.travel(WEDNESDAY_10 + timedelta(hours=4, minutes=10), tick=False):
        stale = Client().post(f"{url}?creneau={old}", answers())  # expired after 4 h
        assert "Demande enregistrée" in stale.content.decode()
        fresh = Client().post(f"{url}?creneau={chosen_slot_token(tomorrow)}", answers())
        assert "Demande enregistrée" in fresh.content.decode()
    assert Request.objects.get(wanted_slot=tomorrow)  # the same slot, with a fresh token
    Request.objects.filter(wanted_slot=tomorrow).delete()
    assert Request.objects.count() == len(tokens) + 1
    assert not Request.objects.filter(wanted_slot__isnull=False).exists()
