"""Mot de passe oublié through Django's own views: the same answer for a known and an
unknown address (no enumeration), a single-use link, French pages, rate limits."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from relais.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
NEW = "Nouveau-Mot-De-Passe-2026!"


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def known(olivia):
    olivia.email = "olivia@example.invalid"
    olivia.save(update_fields=["email"])
    return olivia


def test_it_answers_the_same_for_known_and_unknown_addresses(client, known):
    url = reverse("accounts:password_reset")
    assert "Mot de passe oublié" in client.get(url).content.decode()
    a = client.post(url, {"email": "olivia@example.invalid"})
    b = client.post(url, {"email": "inconnu@example.invalid"})
    assert a.status_code == b.status_code == 302 and a["Location"] == b["Location"]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["olivia@example.invalid"]
    assert "réinitialisation" in mail.outbox[0].subject


def test_the_link_sets_a_new_password_once(client, known):
    client.post(reverse("accounts:password_reset"), {"email": "olivia@example.invalid"})
    link = re.search(r"https?://[^/\s]+(/connexion/reinitialiser/\S+/)", mail.outbox[0].body).group(
        1
    )
    page = client.get(link, follow=True)
    assert page.status_code == 200 and "Nouveau mot de passe" in page.content.decode()
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    response = client.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert response["Location"] == reverse("accounts:password_reset_complete")
    known.refresh_from_db()
    assert known.check_password(NEW)
    assert AuditEvent.objects.filter(reason="mot de passe réinitialisé").exists()
    again = client.get(link, follow=True).content.decode()
    assert "plus valable" in again


def test_it_is_rate_limited_per_address_and_per_email(client, known):
    url = reverse("accounts:password_reset")
    for _ in range(3):
        client.post(url, {"email": "olivia@example.invalid"})
    assert len(mail.outbox) == 3
    client.post(url, {"email": "olivia@example.invalid"})  # 4th for this e-mail: silently dropped
    assert len(mail.outbox) == 3
    client.post(url, {"email": "autre@example.invalid"})
    response = client.post(url, {"email": "autre2@example.invalid"})  # 6th from this address
    assert response.status_code == 200 and "Trop de demandes" in response.content.decode()


def test_the_login_page_links_to_it(client):
    assert (
        reverse("accounts:password_reset") in client.get(reverse("accounts:login")).content.decode()
    )
