"""Onboarding in a browser: a CPTS coordinator invites a doctor from the back-office, the
doctor opens the e-mailed link on a phone, chooses a password and logs in with it. Also
the CSV import preview. Screenshots in /tmp/shots/admin/ (RELAIS_SHOTS_DIR)."""

import os
import re
from pathlib import Path

import pytest
from django.core import mail

from relais.accounts.models import Invitation, Role, User
from relais.directory.identifiers import luhn_key
from relais.notifications.models import Notification
from relais.notifications.services import notification_deliver
from tests import factories as f
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("RELAIS_SHOTS_DIR", "/tmp/shots/admin"))
PASSWORD = "Bienvenue-Relais-2026!"


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_it_invites_a_doctor_who_sets_a_password_and_logs_in(live_server, browser, cpts_a):
    f.commune("91228")
    f.member(f.UserFactory(username="coordinatrice"), Role.COORDINATEUR, cpts=cpts_a)
    desk = browser.new_page(viewport={"width": 1280, "height": 900})
    login(desk, live_server.url, "coordinatrice")
    desk.goto(f"{live_server.url}/administration/")
    desk.wait_for_selector("h1:has-text('Administration')")
    shot(desk, "01-administration")
    desk.click("text=Inviter une personne")
    desk.fill("#id_email", "dr.nora.benali@example.invalid")
    desk.fill("#id_first_name", "Nora")
    desk.fill("#id_last_name", "Benali")
    desk.select_option("#id_role", "effecteur")
    desk.select_option("#id_territory", f"cpts:{cpts_a.public_id}")
    shot(desk, "02-invitation-form")
    desk.click("text=Envoyer l'invitation")
    desk.wait_for_selector(".msg-success")
    assert "Invitation envoyée à dr.nora.benali@example.invalid" in desk.inner_text(".messages")
    shot(desk, "03-person-invited")

    # The worker sends the outbox message; the link is in the e-mail only.
    notification_deliver(notification_id=Notification.objects.get(kind="invitation").pk)
    link = re.search(r"https?://\S+(/connexion/invitation/\S+/)", mail.outbox[-1].body).group(1)

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(live_server.url + link)
    phone.wait_for_selector("h1:has-text('Activer votre compte')")
    assert "Effecteur" in phone.inner_text("#contenu")
    shot(phone, "04-invitation-accept-phone")
    phone.fill("#id_new_password1", PASSWORD)
    phone.fill("#id_new_password2", PASSWORD)
    phone.click("text=Enregistrer mon mot de passe")
    phone.wait_for_selector(".msg-success")
    assert "bienvenue" in phone.inner_text(".messages").lower()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "05-welcome-phone")
    assert Invitation.objects.get().accepted_at is not None

    # A fresh browser: log in with the e-mail address and the chosen password.
    fresh = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(fresh, live_server.url, "dr.nora.benali@example.invalid", PASSWORD)
    fresh.wait_for_load_state()
    assert "/connexion/" not in fresh.url
    shot(fresh, "06-logged-in-phone")
    user = User.objects.get(email="dr.nora.benali@example.invalid")
    assert user.memberships.get().role == Role.EFFECTEUR
    # The link works once.
    fresh.goto(live_server.url + link)
    assert "invalide, déjà utilisé ou expiré" in fresh.inner_text("body")


def test_it_previews_a_csv_import_with_french_errors(live_server, browser, cpts_a, tmp_path):
    f.commune("91228")
    f.member(f.UserFactory(username="coordinatrice"), Role.COORDINATEUR, cpts=cpts_a)
    good = "10" + "00001234"
    csv = tmp_path / "professionnels.csv"
    csv.write_bytes(
        (
            "rpps;nom;prenom;profession;adresse;code_postal;commune;email\n"
            f"{good + luhn_key(good)};Lefèvre;Anne;médecin;3 rue Féray;91000;Évry-Courcouronnes;"
            "anne@example.invalid\n"
            "10000000001;=SOMME(A1);Jean;plombier;1 rue X;99999;Nulle-Part;\n"
        ).encode("cp1252")
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, live_server.url, "coordinatrice")
    page.goto(f"{live_server.url}/administration/import/")
    page.set_input_files("#id_file", str(csv))
    page.click("text=Vérifier le fichier")
    page.wait_for_selector("h1:has-text('Aperçu de l')")
    text = page.inner_text("#contenu")
    assert "1 lignes acceptées" in text and "1 refusées" in text
    assert "clé de contrôle" in text and "ressemble à une formule" in text
    assert "'=SOMME(A1)" in text  # shown neutralised
    shot(page, "07-import-preview")
    page.click("text=Confirmer l'import")
    page.wait_for_selector(".msg-success")
    shot(page, "08-import-done")
    assert "1 créés" in page.inner_text(".messages")
