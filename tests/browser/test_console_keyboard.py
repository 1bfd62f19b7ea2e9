"""Issue 18, item 2: a call placed in few keystrokes, keyboard only, in a real browser.

Counted from the "Nouvelle demande" form (reached by Alt+N) to the booked request page.
An action is one step of the call: typing a field, choosing in a list (arrows + Enter),
submitting, booking, confirming. Before (issue 18): 8 actions for a known patient and 22
for a new one, 35 keys of which 26 Tab. Targets: known <= 6 actions, new <= 12. The
keystroke-level estimate and the counting are relais/bench/journey.py's (shared with the
journey benchmark of `make bench`): 0.28 s per key + 1.35 s of mental preparation per action;
the server time of each page is read from the browser's Navigation Timing.
Screenshots (1366 x 768) go to /tmp/shots/console/."""

import json
from pathlib import Path

import pytest

from relais.bench.journey import Journey
from relais.orientation.models import Booking
from relais.regulation.models import Request
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots/console")


@pytest.fixture
def desk(live_server, browser, olivia, dr_alice):
    olivia.set_password("un-mot-de-passe-solide")
    olivia.save()
    f.SlotFactory(professional=dr_alice)
    # The motif matcher and the red-flag pipeline are built once per process (about ten
    # seconds on a loaded machine): built before the journey, as on a running server.
    from relais.regulation.matching import get_matcher
    from relais.regulation.red_flags import intake_questions

    get_matcher().match("mal au dos", limit=1)
    intake_questions("mal au dos", age_years=40)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "un-mot-de-passe-solide")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/demandes/")
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def _open_form(page, journey):
    journey.press("Alt+n")  # the "Nouvelle demande" access key
    page.wait_for_selector("form[data-intake]")
    journey.navigation_ms()
    assert page.evaluate("document.activeElement.id") == "id_last_name"


def _book_top_slot(page, journey):
    page.wait_for_selector("table.slots [data-book-top], [data-error-summary], #red-flag")
    summary = page.locator("[data-error-summary]")
    assert not summary.count(), summary.inner_text()
    journey.navigation_ms()
    assert page.evaluate("document.activeElement.hasAttribute('data-book-top')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "request-slots.png"))
    journey.action()
    journey.press("Enter")  # "Réserver", focused: htmx asks for confirmation
    journey.action()
    journey.keys += 1  # the confirmation dialog, accepted with Enter
    page.wait_for_selector("#booking")
    journey.navigation_ms()


def _record(name, figures):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / "journey.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2))


def test_a_known_patient_is_booked_in_six_actions(desk, olivia):
    page = desk
    known = f.PatientFactory(last_name="Durand", first_name="Lucie", phone="0639981234")
    journey = Journey(page)
    _open_form(page, journey)
    journey.action()
    journey.type("Durand")
    page.wait_for_selector("#patient-matches input[name=patient_choice]")
    page.screenshot(path=str(SHOTS / "intake-known-patient.png"))
    journey.action()
    journey.press("ArrowDown")  # to the known-patient choice, from the name
    journey.press("Enter")  # takes it: does not submit, goes on to the motif
    assert page.evaluate("document.activeElement.id") == "id_motif_text"
    assert page.input_value("#id_first_name") == "Lucie"
    journey.action()
    journey.type("mal au dos depuis hier")
    journey.action()
    journey.press("Control+Enter")
    _book_top_slot(page, journey)
    booking = Booking.objects.get()
    assert booking.request.patient == known and booking.operator == olivia
    figures = journey.figures()
    _record("known_patient", figures)
    assert figures["actions"] <= 6
    assert figures["klm_seconds"] < 30


def test_a_new_patient_is_booked_in_at_most_twelve_actions(desk, olivia):
    page = desk
    journey = Journey(page)
    _open_form(page, journey)
    journey.action()
    journey.type("Nouvelpatient")
    journey.press("Tab")
    journey.action()
    journey.type("Zoé")
    journey.press("Tab")
    journey.action()
    journey.type("12041985")  # day, month, year: digits only
    journey.press("Tab")
    journey.action()
    journey.type("0639985555")
    journey.press("Tab")
    journey.action()
    journey.type("Évry")
    page.wait_for_selector("#communes-listbox li")
    page.screenshot(path=str(SHOTS / "intake-commune-listbox.png"))
    journey.action()
    journey.press("Enter")  # picks the highlighted (first) suggestion, does not submit
    assert "91228" in page.input_value("#id_commune")
    assert page.url.endswith("/demandes/nouvelle/")  # not submitted
    assert not Request.objects.exists()
    journey.press("Tab")  # from the médecin traitant, past the e-mail
    journey.press("Tab")
    journey.action()
    journey.type("mal au dos depuis hier")
    journey.action()
    journey.press("Control+Enter")
    _book_top_slot(page, journey)
    booking = Booking.objects.get()
    assert booking.request.patient.first_name == "Zoé"
    assert booking.request.patient.birth_date.isoformat() == "1985-04-12"
    figures = journey.figures()
    _record("new_patient", figures)
    assert figures["actions"] <= 12
    assert figures["klm_seconds"] < 45


def test_the_worklist_alerts_on_a_new_red_flag_without_a_reload(desk, olivia, cpts_a):
    page = desk
    page.wait_for_selector("#worklist-live")
    page.screenshot(path=str(SHOTS / "worklist.png"))
    flagged = f.RequestFactory(red_flag=True, red_flag_reasons="douleur thoracique")
    # The page polls every 15 s; trigger the next poll now rather than wait.
    page.evaluate("htmx.trigger('#worklist-live', 'every 15s')")
    page.evaluate(
        "htmx.ajax('GET', document.getElementById('worklist-live').getAttribute('hx-get'),"
        " {target: '#worklist-live', swap: 'outerHTML'})"
    )
    page.wait_for_selector(f"text={flagged.reference}")
    alert = page.locator("#worklist-alert")
    alert.wait_for(state="visible")
    assert flagged.reference in alert.inner_text()
    page.screenshot(path=str(SHOTS / "worklist-alert.png"))
