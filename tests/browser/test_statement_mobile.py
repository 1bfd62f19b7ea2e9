"""The relevé page on a 360 px phone: the month and download buttons stay inside the screen
(issue 19, item 5: the CSV/PDF buttons' line ran off to the right)."""

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("RELAIS_SHOTS", "/tmp/shots/fin19"))


@pytest.mark.parametrize(
    ("width", "height", "font"), [(360, 740, 16), (390, 844, 16), (360, 740, 20), (320, 640, 16)]
)
def test_the_statement_buttons_fit_a_phone(live_server, browser, dr_alice, width, height, font):
    """At 360 x 740 and 390 x 844, and with a larger text setting (20 px) or a 320 px
    screen, where the two downloads side by side (about 330 px) no longer fit."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    dr_alice.user.set_password("un-mot-de-passe-solide")
    dr_alice.user.save()
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "un-mot-de-passe-solide")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/pro/agenda/{dr_alice.public_id}/releve/?mois=2026-11")
    if font != 16:
        page.evaluate(f"document.documentElement.style.fontSize = '{font}px'")
    page.screenshot(path=str(SHOTS / f"releve-{width}-{font}px.png"), full_page=True)
    buttons = page.locator("p.agenda-nav a.button")
    assert buttons.count() == 4  # previous month, next month, CSV, PDF
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (i, box)
    line = page.locator("p.agenda-nav")
    assert line.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.get_by_role("link", name="Télécharger (PDF)").is_visible()
