"""Issue 18, item 6, on the patient's web form on a 390 x 844 phone: after an error the
page shows an error summary at the top that takes the focus, with a link to each field in
error, and the Oui/Non answers are 44 px targets. Screenshots in /tmp/shots/console2/."""

from pathlib import Path

import pytest

from relais.regulation.models import Request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ALWAYS = {str(d): [["00:00", "23:59"]] for d in range(1, 8)}
SHOTS = Path("/tmp/shots/console2")


def test_the_error_summary_takes_the_focus_and_links_each_field(live_server, browser, cpts_a):
    SHOTS.mkdir(parents=True, exist_ok=True)
    cpts_a.service_hours = ALWAYS
    cpts_a.save(update_fields=["service_hours"])
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/demande-en-ligne/{cpts_a.public_id}/")

    # Oui/Non answers: each label (the whole clickable target) is at least 44 x 44 px.
    labels = page.locator(".red-flags .yesno label").all()
    assert len(labels) >= 2
    for label in labels:
        box = label.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box
    page.screenshot(path=str(SHOTS / "web-form-390.png"))

    # Some answers and the name only: the page comes back with a summary at the top.
    radios = page.locator(".red-flags input[type=radio][value=non]").all()
    for radio in radios[1:]:
        radio.check()
    page.fill("#id_last_name", "Durand")
    page.fill("#id_phone", "pas un numéro")
    page.click("button[type=submit]")
    summary = page.locator("[data-error-summary]")
    summary.wait_for()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'erreurs'")
    box = summary.bounding_box()
    assert 0 <= box["y"] < 844, box  # visible without scrolling
    assert "n'est pas encore envoyée" in summary.inner_text()
    assert "répondez à cette question" in summary.inner_text()
    assert not Request.objects.exists()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "web-form-errors-390.png"))

    # Every link points at a field of the page; the first unanswered question is one.
    links = summary.locator("a").all()
    assert len(links) >= 4  # a question, first name, birth date, phone, commune, motif...
    for link in links:
        target = link.get_attribute("href")[1:]
        assert page.locator(f"[id='{target}']").count() == 1, target
    first_radio = radios[0].get_attribute("id")
    assert links[0].get_attribute("href") == f"#{first_radio}"  # in the page's order
    summary.locator("a[href='#id_phone']").click()
    assert page.evaluate("document.activeElement.id") == "id_phone"
    # What was typed is kept.
    assert page.input_value("#id_last_name") == "Durand"
