"""The patients' web form on a phone: service hours, red-flag path, submission."""

import pytest

from relais.regulation.models import Request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ALWAYS = {str(d): [["00:00", "23:59"]] for d in range(1, 8)}


def test_it_closes_outside_hours_and_sends_red_flags_to_the_15(live_server, browser, cpts_a):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    url = f"{live_server.url}/demande-en-ligne/{cpts_a.public_id}/"
    cpts_a.service_hours = {}
    cpts_a.save(update_fields=["service_hours"])
    page.goto(url)
    assert "Le service en ligne est fermé" in page.inner_text("main")

    cpts_a.service_hours = ALWAYS
    cpts_a.save(update_fields=["service_hours"])
    page.goto(url)
    page.check("input[name=rf_thorax][value=oui]")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Appelez le 15 maintenant")
    assert page.locator("a[href='tel:15']").first.is_visible()
    assert not Request.objects.exists()

    page.goto(url)
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
    req = Request.objects.get()
    assert req.channel == "web" and req.reference in page.inner_text("main")
