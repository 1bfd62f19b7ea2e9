"""The core flow in a real browser: login → new request → book → the GP sees the patient."""

import pytest

from relais.orientation.models import Booking
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_takes_a_request_and_books_it_end_to_end(live_server, browser, olivia, dr_alice):
    slot = f.SlotFactory(professional=dr_alice)
    for user in (olivia, dr_alice.user):
        user.set_password("un-mot-de-passe-solide")
        user.save()
    page = browser.new_page()
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "un-mot-de-passe-solide")
    page.click("button[type=submit]")
    page.click("text=Nouvelle demande")
    page.fill("#id_last_name", "Durand")
    page.fill("#id_first_name", "Lucie")
    page.fill("#id_birth_date", "1985-04-12")
    page.fill("#id_phone", "06 39 98 12 34")
    page.fill("#id_commune", "Évry")  # the autocomplete proposes the commune
    page.wait_for_selector("#communes option", state="attached")
    page.fill("#id_commune", page.locator("#communes option").first.get_attribute("value"))
    page.select_option("#id_motif", "A03")
    page.click("text=Créer la demande")
    page.wait_for_selector("table.slots")
    assert dr_alice.display_name in page.inner_text("table.slots")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("table.slots button")
    page.wait_for_selector("#booking")
    assert "Rendez-vous réservé avec" in page.inner_text(".messages")
    booking = Booking.objects.get()
    assert booking.slot == slot and booking.operator == olivia

    pro = browser.new_page()
    pro.set_viewport_size({"width": 390, "height": 844})
    pro.goto(f"{live_server.url}/")
    pro.fill("#id_username", "alice")
    pro.fill("#id_password", "un-mot-de-passe-solide")
    pro.click("button[type=submit]")
    pro.wait_for_selector("article.patient")
    assert "DURAND Lucie" in pro.inner_text("article.patient")
