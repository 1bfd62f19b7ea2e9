import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

from relais.core.middleware import LAST_SEEN

pytestmark = pytest.mark.django_db
PASSWORD = "un-mot-de-passe-solide"
LOCKED = "Trop de tentatives de connexion échouées"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


# --- throttling -----------------------------------------------------------------------------


def _login(client, username, password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        reverse("accounts:login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_it_locks_a_username_and_ip_after_five_failures(client, olivia):
    for _ in range(5):
        response = _login(client, "olivia", "mauvais-mot-de-passe")
        assert "Identifiant ou mot de passe incorrect." in response.content.decode()
    response = _login(client, "olivia")  # the right password, but locked
    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    # another address is not locked out by someone else's attempts
    assert _login(client, "olivia", ip="10.0.0.2").status_code == 302


def test_it_answers_the_same_for_an_unknown_username(client, olivia):
    for _ in range(5):
        _login(client, "inconnu", "mauvais-mot-de-passe")
    unknown = _login(client, "inconnu", "mauvais-mot-de-passe").content.decode()
    assert LOCKED in unknown
    first = _login(client, "olivia", "mauvais-mot-de-passe", ip="10.0.0.9").content.decode()
    assert "Identifiant ou mot de passe incorrect." in first
    assert "n'existe pas" not in first + unknown


def test_it_resets_the_counter_after_a_success(client, olivia):
    for _ in range(4):
        _login(client, "olivia", "mauvais-mot-de-passe")
    assert _login(client, "olivia").status_code == 302
    client.post(reverse("accounts:logout"))
    for _ in range(4):
        _login(client, "olivia", "mauvais-mot-de-passe")
    assert _login(client, "olivia").status_code == 302


# --- two-factor authentication (details in test_two_factor.py) ---------------------------


@pytest.fixture
def two_factor(settings):
    settings.RELAIS_2FA_REQUIRED = True


def test_it_refuses_the_session_api_before_the_second_factor(client, olivia, two_factor):
    client.force_login(olivia)
    response = client.get("/api/v1/motifs/suggest", {"q": "fievre"})
    assert response.status_code == 401


def test_it_does_not_require_a_second_factor_of_an_effecteur(client, dr_alice, two_factor):
    assert _login(client, "alice")["Location"] == reverse("core:home")
    assert client.get(reverse("orientation:my_patients")).status_code == 200


def test_it_does_not_require_it_when_switched_off(client, olivia, settings):
    settings.RELAIS_2FA_REQUIRED = False
    assert _login(client, "olivia")["Location"] == reverse("core:home")


# --- session, headers, deploy check -------------------------------------------------------------


def test_it_closes_an_idle_session(client, olivia, settings):
    settings.RELAIS_SESSION_IDLE_MINUTES = 30
    client.force_login(olivia)
    assert client.get(reverse("regulation:worklist")).status_code == 200
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 31 * 60
    session.save()
    response = client.get(reverse("regulation:worklist"))
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session


def test_it_keeps_an_active_session(client, olivia, settings):
    settings.RELAIS_SESSION_IDLE_MINUTES = 30
    client.force_login(olivia)
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 29 * 60
    session.save()
    assert client.get(reverse("regulation:worklist")).status_code == 200


def test_it_sends_a_strict_content_security_policy(client):
    policy = client.get(reverse("accounts:login"))["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy


def test_it_passes_the_deploy_check_with_production_settings(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "PYTHONPATH": str(root),
        "DJANGO_SETTINGS_MODULE": "relais.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "production-secret-key-long-and-random-0123456789",
        "SITE_URL": "https://relais.example.fr",
        "ALLOWED_HOSTS": "relais.example.fr",
        "RELAIS_VAR_DIR": str(tmp_path),
        "CACHE_URL": "redis://127.0.0.1:6379/7",  # a shared cache is required (E001)
    }
    result = subprocess.run(
        [sys.executable, "-m", "relais.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_fails_the_deploy_check_without_a_shared_cache(tmp_path):
    """Without CACHE_URL each worker counts login failures on its own (3 workers: 15
    tries instead of 5): production settings with the per-process cache are refused."""
    root = Path(__file__).resolve().parents[2]
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "CACHE_URL"}
        },
        "PYTHONPATH": str(root),
        "DJANGO_SETTINGS_MODULE": "relais.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "production-secret-key-long-and-random-0123456789",
        "SITE_URL": "https://relais.example.fr",
        "ALLOWED_HOSTS": "relais.example.fr",
        "RELAIS_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "relais.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    assert result.returncode != 0
    assert "relais.accounts.E001" in result.stdout + result.stderr
