"""Holds and niveau 2 in a real browser."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relais.notifications.models import Notification
from relais.orientation.models import Booking, BookingKind, Level2Call, Level2Status
from relais.orientation.services import level2_launch
from relais.orientation.tokens import offer_token
from tests import factories as f
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_an_operator_hold_then_book_a_slot(live_server, browser, olivia, cpts_a):
    slot = f.SlotFactory()
    req = f.RequestFactory()
    page = browser.new_page()
    login(page, live_server.url, "olivia")
    page.goto(f"{live_server.url}/demandes/{req.public_id}/")
    page.click("table.slots button:has-text('Retenir')")
    page.wait_for_selector("tr.held")
    assert "Retenu pour vous" in page.inner_text("tr.held")
    slot.refresh_from_db()
    assert slot.status == "held" and slot.held_by == olivia
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("tr.held button:has-text('Confirmer')")
    page.wait_for_selector("#booking")
    booking = Booking.objects.get()
    assert booking.slot == slot
    # The patient's confirmation is written with the booking.
    sms = Notification.objects.get(kind="booking_patient", channel="sms")
    assert sms.recipient == req.patient.phone and "rendez-vous" in sms.body


def test_it_gives_a_niveau2_patient_to_exactly_one_of_two_racing_volunteers(
    live_server, browser, cpts_a
):
    volunteers = [f.ProfessionalFactory(cpts_level2=True) for _ in range(2)]
    call = level2_launch(request=f.RequestFactory())
    pages = []
    start = timezone.localtime(timezone.now() + timedelta(hours=2))
    for offer in call.offers.order_by("pk"):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(f"{live_server.url}/n2/{offer_token(offer)}/")
        page.fill("#id_start", start.strftime("%Y-%m-%dT%H:%M"))
        pages.append(page)
    # Both press "J'accepte" without waiting for the other's answer.
    for page in pages:
        page.click("button[value=accept]", no_wait_after=True)
    for page in pages:
        page.wait_for_selector(".msg", timeout=15000)
    texts = [page.inner_text(".msg") for page in pages]
    assert sum("Le patient vous est adressé" in t for t in texts) == 1
    assert sum("Déjà pris en charge" in t for t in texts) == 1
    call.refresh_from_db()
    assert call.status == Level2Status.ACCEPTED
    assert call.accepted_by in volunteers
    assert Booking.objects.filter(kind=BookingKind.NIVEAU2).count() == 1
    assert Level2Call.objects.count() == 1
