"""On a phone: a GP creates a weekly rule, sees the slots, records an outcome."""

from datetime import time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from relais.agenda.models import Slot, SlotStatus
from relais.orientation.models import Booking, BookingStatus
from relais.regulation.models import RequestStatus
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_publishes_a_weekly_rule_and_records_an_outcome_on_a_phone(
    live_server, browser, dr_alice
):
    dr_alice.user.set_password("un-mot-de-passe-solide")
    dr_alice.user.save()
    # A patient seen a moment ago (earlier today), waiting for the outcome.
    today = timezone.localtime().replace(hour=0, minute=0, second=1, microsecond=0)
    seen = f.SlotFactory(
        professional=dr_alice,
        start=max(timezone.now() - timedelta(minutes=5), today),
        status=SlotStatus.BOOKED,
    )
    booking = Booking.objects.create(
        request=f.RequestFactory(
            status=RequestStatus.BOOKED, patient=f.PatientFactory(last_name="Durand")
        ),
        slot=seen,
        channel="ui",
    )

    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "un-mot-de-passe-solide")
    page.click("button[type=submit]")
    page.click(".topbar summary")  # the folded menu
    page.click("nav >> text=Agenda SNP")
    page.click(".agenda-nav >> text=Nouvelle règle")
    for day in range(7):  # every day, so that some are ahead whatever today is
        page.check(f"#id_weekdays_{day}")
    page.fill("#id_start_time", "10:00")
    page.fill("#id_end_time", "11:00")
    page.fill("#id_slot_minutes", "30")
    # Motifs are found by label, not typed as CISP-2 codes.
    page.fill(".motif-search", "otite")
    visible = page.locator("#id_motifs label:visible")
    assert 1 <= visible.count() <= 3 and "Otite" in visible.first.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#id_motifs").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "regle-motifs-390.png"))
    page.fill(".motif-search", "")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("text=Enregistrer la règle")
    page.wait_for_selector(".msg-success")
    assert "créneau(x) publié(s)" in page.inner_text(".messages")
    assert page.locator(".slot[data-status=free]").count() >= 2
    assert "10:00–10:30" in page.inner_text("#contenu")
    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert Slot.objects.filter(professional=dr_alice, rule__isnull=False).count() >= 26

    page.click(".slot >> text=Vu")
    page.wait_for_selector(".msg-success")
    assert "Issue enregistrée" in page.inner_text(".messages")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.FULFILLED


SHOTS = Path("/tmp/shots/effecteur")


@pytest.mark.parametrize(("width", "height"), [(360, 740), (390, 844)])
def test_it_fits_a_phone_header_agenda_statement_and_patients(
    live_server, browser, dr_alice, width, height
):
    """Issue 19, item 5: the header took 214 px and the menu four rows, a "Fermer" button
    on every slot made the agenda 9,000 px long, the statement table was 566 px wide."""
    from relais.agenda.services import rule_create
    from tests.agenda.helpers import rule_input

    SHOTS.mkdir(parents=True, exist_ok=True)
    dr_alice.user.set_password("un-mot-de-passe-solide")
    dr_alice.user.save()
    rule_create(
        professional=dr_alice,
        data=rule_input(
            dr_alice,
            weekdays=list(range(7)),
            start_time=time(8),
            end_time=time(20),
            slot_minutes=20,
        ),
    )
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "un-mot-de-passe-solide")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/pro/agenda/{dr_alice.public_id}/")
    header = page.locator(".topbar").bounding_box()["height"]
    assert header <= 60, header
    assert not page.locator("nav[aria-label='Navigation principale']").is_visible()
    page.screenshot(path=str(SHOTS / f"agenda-{width}.png"))
    free = page.locator(".slot[data-status=free]").count()
    assert free >= 7 * 30  # a week of 36 slots a day (less those already past today)
    # One "Actions" control per slot, its buttons folded: no big button on every slot.
    assert page.locator(".slot button:visible").count() == 0
    length = page.evaluate("document.documentElement.scrollHeight")
    per_slot = length / free
    assert per_slot < 60, (length, free)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.locator(".slot-actions summary").first.click()
    assert page.locator(".slot button:visible").count() == 1
    page.click(".topbar summary")
    assert page.locator("nav[aria-label='Navigation principale']").is_visible()
    page.screenshot(path=str(SHOTS / f"menu-{width}.png"))
    page.goto(f"{live_server.url}/pro/agenda/{dr_alice.public_id}/releve/")
    table = page.locator("table.stack").bounding_box()
    assert table["width"] <= width, table
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(SHOTS / f"releve-{width}.png"), full_page=True)
    page.goto(f"{live_server.url}/pro/agenda/{dr_alice.public_id}/creneaux/nouveau/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(SHOTS / f"creneau-ponctuel-{width}.png"), full_page=True)
    page.goto(f"{live_server.url}/pro/agenda/{dr_alice.public_id}/?semaine=1")
    assert "Semaine précédente" in page.inner_text("#contenu")
    page.goto(f"{live_server.url}/pro/patients/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(SHOTS / f"patients-{width}.png"), full_page=True)
