"""A patient on a phone from a public slot's page (the SMART booking link) to the CPTS
web form, which carries the chosen slot into the stored request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relais.regulation.models import Request
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ALWAYS = {str(d): [["00:00", "23:59"]] for d in range(1, 8)}


def test_the_chosen_public_slot_reaches_the_stored_request(live_server, browser, cpts_a):
    cpts_a.service_hours = ALWAYS
    cpts_a.save(update_fields=["service_hours"])
    doctor = f.ProfessionalFactory(cpts=cpts_a)
    slot = f.SlotFactory(
        professional=doctor, for_public=True, start=timezone.now() + timedelta(hours=5)
    )
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/interop/rdv/{slot.public_id}/")
    page.click("text=Faire ma demande")
    page.wait_for_selector("text=Créneau choisi")
    assert "creneau=" in page.url and str(slot.public_id) not in page.url
    page.screenshot(path="/tmp/shots/fhir2/web_form_chosen_slot.png")
    for radio in page.locator("input[type=radio][value=non]").all():
        radio.check()
    page.fill("#id_last_name", "Durand")
    page.fill("#id_first_name", "Lucie")
    page.fill("#id_birth_date", "1985-04-12")
    page.fill("#id_phone", "06 39 98 12 34")
    page.select_option("#id_commune", "91228")
    page.fill("#id_motif_text", "otite, mal à l'oreille depuis hier soir")
    page.check("#id_consent")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Demande enregistrée")
    assert "Le créneau que vous avez choisi" in page.inner_text("main")
    page.screenshot(path="/tmp/shots/fhir2/web_thanks_chosen_slot.png")
    assert Request.objects.get().wanted_slot == slot
