"""The dashboard on a phone (390 x 844): the definitions are on the page, the wide tables
(participants, doors) scroll inside their card, the page itself never sideways."""

from pathlib import Path

import pytest

from tests.indicators.scenarios import build_march

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
SHOTS = Path("/tmp/shots/statement")


def test_the_dashboard_fits_a_phone_and_shows_its_definitions(
    live_server, browser, regis, cpts_a, sas43
):
    build_march(cpts_a)
    regis.set_password("un-mot-de-passe-solide")
    regis.save()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "regis")
    page.fill("#id_password", "un-mot-de-passe-solide")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/indicateurs/?debut=2024-03-01&fin=2024-03-31")
    assert page.locator("#definitions dt").count() >= 20
    assert page.locator("#definitions").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    assert page.locator("#table-participants").count() == 1
    page.locator("#h-participants").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "dashboard-participants-390.png"))
    page.locator("#definitions").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "dashboard-definitions-390.png"))
    page.screenshot(path=str(SHOTS / "dashboard-390.png"), full_page=True)
