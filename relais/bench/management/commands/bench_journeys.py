"""`relais bench_journeys`: each role's main flow played in a real browser on the demo
(issue 18, item 8), counted by relais/bench/journey.py, written to a JSON file and to the
journeys section of docs/benchmarks.md (which `relais bench` keeps). Not a timed test:
one run, the figures as measured.

Run it on a demo database (`make bench-journeys` builds one in var/journeys/): it serves
that database itself with `serve_demo` on --port, plays the journeys with Playwright and
Debian's /usr/bin/chromium (as tests/browser/conftest.py launches it), then stops the
server and counts the HTTP 5xx answers in its log.

With --dataset national it plays the same journeys on the national bench database
(`make bench-journeys-national`: `relais generate` into JOURNEYS_DATABASE_URL, then
`relais demo_data` on top for the demo's logins and territory, which the journeys use);
its figures go to docs/benchmarks-journeys-national.json and to a second table,
"Base nationale", of the same section."""

import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from relais.bench.journey import Journey, update_doc
from relais.bench.report import ANALYSIS

PASSWORD = "relais-demo-2026"
DESK = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SERVER_ERROR = re.compile(r'" 5\d\d ')
JSON_NAMES = {"demo": "benchmarks-journeys.json", "national": "benchmarks-journeys-national.json"}
WHERE = {
    "demo": (
        "the demo territory (`relais demo_data`, SQLite, Django's runserver; Dr Roy's "
        "latest past appointment set back to 'outcome to record' for the doctor's flow, "
        "the web form's CPTS open all day)"
    ),
    "national": (
        "a national-size PostgreSQL database (`relais generate`, then `relais demo_data` on "
        "top for the demo's logins and territory; {professionals:,} professionals, "
        "{requests:,} requests, {slots:,} slots; Django's runserver; same adjustments as on "
        "the demo)"
    ),
}


class Command(BaseCommand):
    help = "Joue le parcours de chaque rôle dans Chromium sur la démo ; écrit docs/benchmarks.md."

    def add_arguments(self, parser):
        root = Path(settings.BASE_DIR).parent
        parser.add_argument("--port", type=int, default=8199)
        parser.add_argument("--output", default=str(root / "docs" / "benchmarks.md"))
        parser.add_argument(
            "--dataset",
            choices=("demo", "national"),
            default="demo",
            help="national : la base de `relais generate` complétée par `relais demo_data`.",
        )
        parser.add_argument("--json", default=None, help="Défaut : docs/benchmarks-journeys*.json.")

    def handle(self, *args, **o):
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise CommandError("Playwright est nécessaire : pip install playwright") from exc
        if not shutil.which(CHROMIUM):
            raise CommandError("Chromium est nécessaire : apt-get install chromium")
        base = f"http://127.0.0.1:{o['port']}"
        docs = Path(o["output"]).parent
        json_path = Path(o["json"] or docs / JSON_NAMES[o["dataset"]])
        where = WHERE[o["dataset"]]
        if o["dataset"] == "national":
            where = where.format(**national_size())
        log_path = Path(os.environ.get("RELAIS_VAR_DIR", ".")) / "journeys-server.log"
        known, cpts_id = demo_targets()
        env = {**os.environ, "SITE_URL": base}
        with log_path.open("w") as log:
            relais = str(Path(sys.executable).parent / "relais")
            server = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
                [relais, "serve_demo", "--addr", f"127.0.0.1:{o['port']}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_for(base)
                with sync_playwright() as p:
                    browser = p.chromium.launch(
                        executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                    )
                    journeys = play_all(browser, base, self.stdout, known, cpts_id)
                    browser.close()
            finally:
                _stop(server)
        errors = sum(1 for line in log_path.read_text().splitlines() if SERVER_ERROR.search(line))
        data = {
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "where": where,
            "journeys": journeys,
            "server_errors": errors,
        }
        json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        # Both tables in the section: this run's and the other dataset's last one, if any.
        runs = {o["dataset"]: data}
        for dataset, name in JSON_NAMES.items():
            other = docs / name
            if dataset not in runs and other.exists():
                runs[dataset] = json.loads(other.read_text())
        if "demo" in runs:
            update_doc(
                Path(o["output"]), runs["demo"], before=ANALYSIS, national=runs.get("national")
            )
        else:
            update_doc(Path(o["output"]), runs["national"], before=ANALYSIS)
        self.stdout.write(f"Écrit : {json_path} et {o['output']} ({errors} réponse(s) 5xx).")


def national_size():
    """The size of the national bench database, for the report's 'where'."""
    from relais.agenda.models import Slot
    from relais.directory.models import Professional
    from relais.regulation.models import Request

    return {
        "professionals": Professional.objects.count(),
        "requests": Request.objects.count(),
        "slots": Slot.objects.count(),
    }


def _stop(server):
    """Ctrl+C, not SIGTERM: serve_demo stops its task worker on the way out (a SIGTERM
    left the worker running, connected to the benchmark's database)."""
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(base, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/", timeout=5)  # noqa: S310 (our own local server)
            return
        except OSError:
            time.sleep(0.5)
    raise CommandError(f"Le serveur de démonstration ne répond pas sur {base}.")


def _login(browser, base, username, viewport=DESK):
    context = browser.new_context(viewport=viewport, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{base}/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.on("dialog", lambda dialog: dialog.accept())
    return context, page


def _summary_free(page):
    summary = page.locator("[data-error-summary]")
    if summary.count():
        page.screenshot(path=os.environ.get("RELAIS_VAR_DIR", ".") + "/journey-failed.png")
        raise CommandError(f"Le parcours a échoué : {summary.inner_text()}")


def _intake(browser, base, username, fill):
    """From the worklist: Alt+N, the call typed by `fill`, Ctrl+Enter; books the top
    slot when the role may (an OSNP operator), else stops on the request page (an ARM
    sends to the régulateur)."""
    context, page = _login(browser, base, username)
    page.goto(f"{base}/demandes/")
    journey = Journey(page)
    journey.press("Alt+n")
    page.wait_for_selector("form[data-intake]")
    journey.navigation_ms("nouvelle demande")
    fill(page, journey)
    journey.action()
    journey.press("Control+Enter")
    page.wait_for_function(
        "() => /\\/demandes\\/[0-9a-f-]{36}\\//.test(location.pathname)"
        " || document.querySelector('[data-error-summary]')"
    )
    page.wait_for_load_state()
    _summary_free(page)
    journey.navigation_ms("demande")
    top = page.locator("[data-book-top]")
    if top.count():
        page.wait_for_function("document.activeElement.hasAttribute('data-book-top')")
        journey.action()
        journey.press("Enter")
        journey.action()
        journey.keys += 1  # the confirmation dialog, accepted with Enter
        page.wait_for_selector("#booking")
        journey.fetch_ms("réservation")
    context.close()
    return journey.figures()


def _known(last_name):
    def fill(page, journey):
        journey.action()
        journey.type(last_name)
        page.wait_for_selector("#patient-matches input[name=patient_choice]")
        journey.action()
        journey.press("ArrowDown")
        journey.press("Enter")
        journey.action()
        journey.type("mal au dos depuis hier")

    return fill


def _new_patient(page, journey):
    # A name of its own each run: the same identity twice is (rightly) a known patient.
    name = "Nouvel" + "".join(random.choice(string.ascii_lowercase) for _ in range(6))  # noqa: S311
    for text in (name, "Zoé", "12041985", "0639985555"):
        journey.action()
        journey.type(text)
        journey.press("Tab")
    journey.action()
    journey.type("Évry")
    page.wait_for_selector("#communes-listbox li")
    journey.action()
    journey.press("Enter")
    journey.press("Tab")
    journey.press("Tab")
    journey.action()
    journey.type("mal au dos depuis hier")


def _regulateur(browser, base):
    """The régulateur opens the first request to regulate and records a decision."""
    context, page = _login(browser, base, "regulateur")
    page.goto(f"{base}/demandes/")
    journey = Journey(page)
    journey.navigation_ms("demandes")
    first = "#worklist-live a[href*='/demandes/']"
    page.wait_for_selector(first)
    journey.click(page.locator(first).first)
    page.wait_for_selector("#decision")
    journey.navigation_ms("demande")
    journey.click("#id_decision")
    page.keyboard.press("Escape")  # close the list that the click opened
    journey.type("Té")  # picks "Téléconsultation" by its first letters
    journey.press("Tab")
    journey.press("Tab")  # past the delay, kept
    journey.action()
    journey.type("Téléconsultation ce soir")
    journey.action()
    journey.press("Tab")  # the note is a text area: Tab to "Enregistrer la décision"
    with page.expect_navigation():
        journey.press("Enter")
    page.wait_for_load_state()
    _summary_free(page)
    journey.navigation_ms("décision enregistrée")
    context.close()
    return journey.figures()


def _operator_books(browser, base):
    """The OSNP operator opens the first open request and books its top-ranked slot."""
    context, page = _login(browser, base, "operateur")
    page.goto(f"{base}/demandes/")
    page.wait_for_selector("#worklist-live table.worklist a")
    # The first request to orient (the last table; the first lists those to regulate)
    # whose page ranks a slot: the demo's requests are not all bookable.
    rows = page.locator("#worklist-live table.worklist").last.locator("a[href*='/demandes/']")
    for index in range(min(rows.count(), 8)):
        journey = Journey(page)
        journey.navigation_ms("demandes")
        journey.click(rows.nth(index))
        page.wait_for_load_state()
        page.wait_for_timeout(1500)  # the ranked slots arrive by htmx
        if page.locator("[data-book-top]").count():
            break
        page.go_back()
        page.wait_for_selector("#worklist-live table.worklist")
    else:
        raise CommandError("Aucune demande à orienter de la démo n'a de créneau proposé.")
    journey.navigation_ms("demande")
    journey.click("[data-book-top]")
    journey.action()
    journey.keys += 1  # the confirmation dialog, accepted with Enter
    page.wait_for_selector("#booking")
    journey.fetch_ms("réservation")
    context.close()
    return journey.figures()


def _doctor(browser, base):
    """The doctor records 'Vu' for the first past appointment still without an outcome."""
    context, page = _login(browser, base, "medecin", viewport=PHONE)
    journey = Journey(page)
    page.goto(f"{base}/pro/patients/")
    journey.navigation_ms("mes patients")
    button = ".to-record form.outcome button[value=fulfilled]"
    before = page.locator(button).count()
    if not before:
        raise CommandError("La démo n'a aucun rendez-vous passé à renseigner.")
    journey.click(button)
    page.wait_for_load_state()
    journey.navigation_ms("issue enregistrée")
    if page.locator(button).count() != before - 1:
        raise CommandError("L'issue du rendez-vous n'a pas été enregistrée.")
    context.close()
    return journey.figures()


def _web_form(browser, base, url):
    """The patient on a phone: every 'Non', the identity, the motif, consent, send."""
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(90_000)
    journey = Journey(page)
    page.goto(url)
    journey.navigation_ms("formulaire")
    for radio in page.locator(".red-flags input[type=radio][value=non]").all():
        journey.actions += 1
        journey.clicks += 1
        radio.check()
    for selector, text in (
        ("#id_last_name", "Durand"),
        ("#id_first_name", "Lucie"),
        ("#id_birth_date", "12041985"),
        ("#id_phone", "0639981234"),
    ):
        journey.click(selector)
        journey.type(text)
    journey.click("#id_commune")
    page.keyboard.press("Escape")
    page.select_option("#id_commune", index=1)
    journey.keys += 1  # the commune chosen in the list
    journey.click("#id_motif_text")
    journey.type("otite, mal à l'oreille depuis hier soir")
    journey.click("#id_consent")
    if page.locator("altcha-widget").count():
        # The proof of work starts when the form takes the focus (auto="onfocus"): no tap.
        page.wait_for_function(
            "() => (document.querySelector('input[name=altcha]') || {value: ''}).value.length > 20"
        )
    journey.click("button[type=submit]")
    page.wait_for_selector("text=Demande enregistrée")
    journey.navigation_ms("demande enregistrée")
    context.close()
    return journey.figures()


def demo_targets():
    """A known patient's name and the web form's CPTS, read before Playwright starts (its
    sync API runs an event loop, where Django refuses database queries)."""
    from relais.regulation.models import Patient, Request
    from relais.territory.models import Cpts

    known = (
        Request.objects.filter(patient__sas__departement__code="91")
        .exclude(patient__last_name="")
        .values_list("patient__last_name", flat=True)
        .first()
    ) or Patient.objects.values_list("last_name", flat=True).first()
    cpts = Cpts.objects.exclude(service_hours={}).first() or Cpts.objects.first()
    if cpts is not None:
        # The form is open at the CPTS's hours only: the bench's demo copy opens all day.
        cpts.service_hours = {str(d): [["00:00", "23:59"]] for d in range(1, 8)}
        cpts.save(update_fields=["service_hours"])
    _one_outcome_to_record()
    if not known or cpts is None:
        raise CommandError("Base sans données de démonstration : lancez relais demo_data.")
    return known, str(cpts.public_id)


def _one_outcome_to_record():
    """The demo records an outcome for every past appointment; for the doctor's journey
    the latest past one of Dr Roy (login medecin) goes back to 'booked, outcome to record'
    (said in the report's 'where'), unless one is already waiting."""
    from django.utils import timezone

    from relais.orientation.models import Booking, BookingStatus
    from relais.regulation.models import RequestStatus

    past = Booking.objects.filter(
        slot__professional__user__username="medecin", slot__start__lte=timezone.now()
    )
    if past.filter(status=BookingStatus.BOOKED).exists():
        return
    booking = past.order_by("-slot__start").first()
    if booking is None:
        raise CommandError("La démo n'a aucun rendez-vous passé pour le Dr Roy (medecin).")
    Booking.objects.filter(pk=booking.pk).update(
        status=BookingStatus.BOOKED, outcome_recorded_at=None
    )
    type(booking.request).objects.filter(pk=booking.request_id).update(status=RequestStatus.BOOKED)


def play_all(browser, base, stdout, known, cpts_id):
    plan = [
        (
            "arm_known",
            "ARM, known patient",
            "ARM",
            lambda: _intake(browser, base, "arm", _known(known)),
        ),
        ("arm_new", "ARM, new patient", "ARM", lambda: _intake(browser, base, "arm", _new_patient)),
        (
            "regulateur",
            "Régulateur decision",
            "médecin régulateur",
            lambda: _regulateur(browser, base),
        ),
        ("osnp_booking", "OSNP booking", "opérateur SNP", lambda: _operator_books(browser, base)),
        ("doctor_outcome", "Doctor outcome (phone)", "effecteur", lambda: _doctor(browser, base)),
        (
            "web_form",
            "Patient web form (phone)",
            "patient",
            lambda: _web_form(browser, base, f"{base}/demande-en-ligne/{cpts_id}/"),
        ),
    ]
    results = {}
    for name, label, role, play in plan:
        figures = play()
        results[name] = {"label": label, "role": role, **figures}
        stdout.write(
            f"{label} : {figures['actions']} actions, {figures['keystrokes']} touches, "
            f"{figures['klm_seconds']} s"
        )
    return results
