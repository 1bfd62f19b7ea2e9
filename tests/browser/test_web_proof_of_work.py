"""The ALTCHA widget of the patients' web form in a real browser, under Relais's CSP:
the proof-of-work is solved by the vendored worker and accepted by the server; without
JavaScript the page says to call the CPTS."""

import pytest

from relais.regulation.models import Request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ALWAYS = {str(d): [["00:00", "23:59"]] for d in range(1, 8)}
SOLVED = "() => (document.querySelector('input[name=altcha]') || {value: ''}).value.length > 20"


@pytest.fixture
def open_cpts(cpts_a, settings):
    settings.RELAIS_WEB_FORM_POW = True
    cpts_a.service_hours = ALWAYS
    cpts_a.phone = "01 60 00 00 00"
    cpts_a.save(update_fields=["service_hours", "phone"])
    return cpts_a


def test_it_solves_the_proof_of_work_in_the_browser(live_server, browser, open_cpts):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{live_server.url}/demande-en-ligne/{open_cpts.public_id}/")
    for radio in page.locator("input[type=radio][value=non]").all():
        radio.check()
    page.fill("#id_last_name", "Durand")
    page.fill("#id_first_name", "Lucie")
    page.fill("#id_birth_date", "1985-04-12")
    page.fill("#id_phone", "06 39 98 12 34")
    page.select_option("#id_commune", "91228")
    page.fill("#id_motif_text", "otite, mal à l'oreille depuis hier soir")
    page.check("#id_consent")
    page.wait_for_function(SOLVED, timeout=60_000)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Demande enregistrée")
    assert Request.objects.filter(channel="web").count() == 1
    assert blocked == []


def test_it_tells_to_call_the_cpts_without_javascript(live_server, browser, open_cpts):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/demande-en-ligne/{open_cpts.public_id}/")
    assert "appelez la CPTS au 01 60 00 00 00" in page.inner_text("main")
    context.close()
