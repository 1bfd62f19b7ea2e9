"""Issue 15 in a real browser: the patient's web form on a phone asks the confirming
questions of what they describe (a "Oui" says "Appelez le 15 maintenant" and stores
nothing), and the ARM answers the intake questions from the keyboard. The matcher is the
deterministic one of tests/regulation/test_red_flag_routing_fakes.py (detection has its
own tests); criteria and questions are the real referential's. Screenshots in
/tmp/shots/safety/."""

from pathlib import Path

import pytest

from relais.accounts.models import Role
from relais.regulation.models import Patient, RedFlagAnswer, Request, RequestStatus
from tests import factories as f
from tests.browser.conftest import login
from tests.regulation.test_red_flag_routing_fakes import fake_matcher  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fake_matcher"),
]
ALWAYS = {str(d): [["00:00", "23:59"]] for d in range(1, 8)}
SHOTS = Path("/tmp/shots/safety")


def _fill_web_form(page, motif):
    for radio in page.locator("input[type=radio][value=non]").all():
        radio.check()
    page.fill("#id_last_name", "Durand")
    page.fill("#id_first_name", "Lucie")
    page.fill("#id_birth_date", "1961-04-12")
    page.fill("#id_phone", "06 39 98 12 34")
    page.select_option("#id_commune", "91228")
    page.fill("#id_motif_text", motif)
    page.check("#id_consent")


def test_the_web_form_asks_then_sends_a_oui_to_the_15_on_a_phone(live_server, browser, cpts_a):
    SHOTS.mkdir(parents=True, exist_ok=True)
    cpts_a.service_hours = ALWAYS
    cpts_a.save(update_fields=["service_hours"])
    page = browser.new_page(viewport={"width": 390, "height": 844})
    url = f"{live_server.url}/demande-en-ligne/{cpts_a.public_id}/"
    page.goto(url)
    _fill_web_form(page, "j'ai une douleur dans la poitrine depuis ce matin")
    page.click("button[type=submit]")

    questions = page.locator("#criterion-questions")
    questions.wait_for()
    assert "La douleur est-elle apparue au repos" in questions.inner_text()
    assert "appelle quelques questions importantes" in page.inner_text("main")
    assert not Request.objects.exists() and not Patient.objects.exists()
    # 44 px answer targets, and the page does not scroll sideways on a phone.
    for label in questions.locator(".yesno label").all():
        box = label.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    questions.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "web-questions-390.png"))

    # Accessible: each answer is a labelled radio.
    page.get_by_role("radio", name="Oui").first.check()
    page.click("button[type=submit]")
    page.wait_for_selector("text=Appelez le 15 maintenant")
    assert page.locator("a[href='tel:15']").first.is_visible()
    page.screenshot(path=str(SHOTS / "web-call-15-390.png"))
    assert not Request.objects.exists() and not Patient.objects.exists()

    # All "Non": stored with its answers.
    page.goto(url)
    _fill_web_form(page, "j'ai une douleur dans la poitrine depuis ce matin")
    page.click("button[type=submit]")
    page.locator("#criterion-questions").wait_for()
    for radio in page.locator("#criterion-questions input[type=radio][value=non]").all():
        radio.check()
    page.click("button[type=submit]")
    page.wait_for_selector("text=Demande enregistrée")
    req = Request.objects.get()
    assert sorted(req.red_flag_answers.values_list("answer", flat=True)) == ["no"] * 3


def test_the_arm_answers_the_intake_questions_from_the_keyboard(
    live_server, browser, sas91, cpts_a
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    f.member(f.UserFactory(username="arnaud"), Role.ARM, sas_obj=sas91)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, live_server.url, "arnaud")
    page.goto(f"{live_server.url}/demandes/nouvelle/")
    page.fill("#id_last_name", "Durand")
    page.fill("#id_first_name", "Lucie")
    page.fill("#id_phone", "0639981234")
    page.fill("#id_commune", "Évry-Courcouronnes (91000) — 91228")
    page.click("#id_motif_text")
    page.keyboard.type("douleur dans la poitrine depuis 20 min", delay=20)
    page.wait_for_selector("fieldset.rfq")
    assert page.locator("fieldset.rfq").count() == 3

    # From the motif, Tab until the first question, then o / n / arrows.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('fieldset.rfq')"):
            break
    else:
        pytest.fail("the questions cannot be reached with Tab")
    page.keyboard.press("o")  # acs.rest: oui, focus moves to the next question
    page.keyboard.press("n")  # acs.radiation: non
    page.keyboard.press("ArrowRight")  # acs.sweats: focus was on "Oui", the arrow checks "Non"
    assert page.is_checked('input[name="rfq_acs.rest"][value=oui]')
    assert page.is_checked('input[name="rfq_acs.radiation"][value=non]')
    assert page.is_checked('input[name="rfq_acs.sweats"][value=non]')
    page.locator("#red-flag-questions").screenshot(path=str(SHOTS / "arm-intake-questions.png"))

    page.click("form.intake button.primary[type=submit]")
    page.wait_for_selector("text=Signe de gravité")
    req = Request.objects.get()
    assert req.status == RequestStatus.TO_REGULATE and req.priority == "P0"
    assert dict(RedFlagAnswer.objects.values_list("question_id", "answer")) == {
        "acs.rest": "yes",
        "acs.radiation": "no",
        "acs.sweats": "no",
    }
    page.screenshot(path=str(SHOTS / "arm-request-banner.png"), full_page=True)

    # The régulateur: "Consultation SNP" is refused while the alert is active, in French.
    f.member(f.UserFactory(username="regine"), Role.REGULATEUR, sas_obj=sas91)
    reg = browser.new_page(viewport={"width": 1280, "height": 900})
    login(reg, live_server.url, "regine")
    reg.goto(f"{live_server.url}/demandes/{req.public_id}/")
    reg.select_option("#decision select[name=decision]", "consultation")
    reg.click("#decision button[type=submit]")
    reg.wait_for_selector("text=Signe de gravité actif")
    assert Request.objects.get().status == RequestStatus.TO_REGULATE
    reg.screenshot(path=str(SHOTS / "regulateur-refused.png"), full_page=True)
    reg.select_option("#decision select[name=decision]", "consultation")
    reg.fill("#id_lift_reason", "douleur pariétale reproduite à la palpation")
    reg.click("#decision button[type=submit]")
    reg.wait_for_selector("text=Décision enregistrée")
    req.refresh_from_db()
    assert req.status == RequestStatus.OPEN and req.red_flag_override_reason
