"""On a phone: a GP creates a weekly rule, sees the slots, records an outcome."""

from datetime import timedelta

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
    page.click("nav >> text=Agenda SNP")
    page.click(".agenda-nav >> text=Nouvelle règle")
    for day in range(7):  # every day, so that some are ahead whatever today is
        page.check(f"#id_weekdays_{day}")
    page.fill("#id_start_time", "10:00")
    page.fill("#id_end_time", "11:00")
    page.fill("#id_slot_minutes", "30")
    page.click("text=Enregistrer la règle")
    page.wait_for_selector(".msg-success")
    assert "vos créneaux sont publiés" in page.inner_text(".messages")
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
