"""The second factor through django-otp, replayed as attacks: brute force of the TOTP
code (a new login with the right password does not reset the count), enrolment with the
password only (the device is unusable before the e-mailed link), and the admin commands."""

import re
import time
from binascii import unhexlify

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.services import otp_verify
from relais.audit.models import AuditEvent
from relais.core.errors import ApplicationError

pytestmark = pytest.mark.django_db
PASSWORD = "un-mot-de-passe-solide"


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RELAIS_2FA_REQUIRED = True
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def frozen():
    with time_machine.travel(time.time(), tick=False) as clock:
        yield clock


def code_of(device, shift=0) -> str:
    return str(totp(unhexlify(device.key), t0=-shift)).zfill(6)


def _login(client, username="olivia"):
    return client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})


@pytest.fixture
def enrolled(olivia):
    return TOTPDevice.objects.create(user=olivia, name="app", confirmed=True)


def test_it_enrols_with_a_first_code_then_the_emailed_link(client, olivia, frozen):
    olivia.email = "olivia@cpts.example.fr"
    olivia.save(update_fields=["email"])
    assert _login(client)["Location"] == reverse("accounts:two_factor")
    page = client.get(reverse("accounts:two_factor"), follow=True).content.decode()
    assert "Activer la double authentification" in page and "otpauth://totp/" in page
    device = TOTPDevice.objects.get(user=olivia)
    assert not device.confirmed

    response = client.post(reverse("accounts:two_factor_enrol"), {"code": code_of(device)})
    assert response.status_code == 302
    assert "o•••@cpts.example.fr" in client.get(response["Location"]).content.decode()
    # The password and a code are not enough: nothing is reachable before the link.
    assert client.get(reverse("regulation:worklist"))["Location"] == reverse("accounts:two_factor")
    assert client.get(reverse("accounts:two_factor"))["Location"] == reverse(
        "accounts:two_factor_enrol"
    )
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["olivia@cpts.example.fr"]
    link = re.search(r"https?://\S+/confirmer/\S+/", mail.outbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]

    # Opening the link (a mail scanner would) confirms nothing; the button does.
    assert "C'est moi" in client.get("/" + path).content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.post("/" + path)["Location"] == reverse("accounts:two_factor")
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert AuditEvent.objects.filter(reason="second facteur confirmé par e-mail").exists()
    assert client.post("/" + path)["Location"] == reverse("accounts:login")  # used once

    frozen.shift(30)  # the enrolment code is spent (no replay): the next one
    response = client.post(reverse("accounts:two_factor"), {"code": code_of(device)})
    assert response.status_code == 302
    assert client.get(reverse("regulation:worklist")).status_code == 200


def test_it_refuses_a_forged_expired_or_replaced_link(client, olivia, settings):
    from relais.accounts.services import otp_confirmation_token, otp_enrolment_device

    device = otp_enrolment_device(user=olivia)
    token = otp_confirmation_token(device=device)
    assert client.post(f"/connexion/double-authentification/confirmer/{token}x/").status_code == 302
    with time_machine.travel(time.time() + settings.RELAIS_OTP_CONFIRM_MINUTES * 60 + 5):
        client.post(f"/connexion/double-authentification/confirmer/{token}/")
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    # Another session (an attacker with the password) gets a new key: the old link dies.
    otp_enrolment_device(user=olivia, pending_id=None)
    response = client.post(f"/connexion/double-authentification/confirmer/{token}/", follow=True)
    assert "déjà utilisé ou remplacé" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=olivia, confirmed=True).exists()


def test_it_shows_a_key_only_to_the_session_that_made_it(client, olivia):
    from django.test import Client

    _login(client)
    client.get(reverse("accounts:two_factor_enrol"))
    first = TOTPDevice.objects.get(user=olivia)
    attacker = Client()
    _login(attacker)
    page = attacker.get(reverse("accounts:two_factor_enrol")).content.decode()
    second = TOTPDevice.objects.get(user=olivia)
    assert second.pk != first.pk and first.config_url.split("secret=")[1][:8] not in page


def test_it_does_not_let_a_new_login_reset_the_wrong_codes(client, enrolled, frozen):
    """Before: five wrong codes logged out, and the password reset the count: 8 guesses/s.
    Now the count lives on the device; after each wrong code the next waits 1, 2, 4… s."""
    _login(client)
    for _ in range(5):
        client.post(reverse("accounts:two_factor"), {"code": "000000"})
    enrolled.refresh_from_db()
    assert enrolled.throttling_failure_count == 1  # the other four were refused unchecked
    _login(client)  # the right password again
    response = client.post(reverse("accounts:two_factor"), {"code": code_of(enrolled)})
    assert "attendez" in response.content.decode()  # even the right code waits
    assert client.get(reverse("regulation:worklist")).status_code == 302
    frozen.shift(2)
    assert (
        client.post(reverse("accounts:two_factor"), {"code": code_of(enrolled)}).status_code == 302
    )
    assert client.get(reverse("regulation:worklist")).status_code == 200


def test_it_counts_code_guesses_per_hour_and_locks(olivia, enrolled, settings):
    """An attacker who knows the password sends a code every second for an hour (the old
    code checked 8/s: 28,800 an hour). Now: RELAIS_OTP_LOCK_FAILURES (10), then locked."""
    start = time.time()
    checked = 0
    with time_machine.travel(start, tick=False) as clock:
        for second in range(3600):
            clock.move_to(start + second)
            try:
                otp_verify(user=olivia, code="000000")
            except ApplicationError:
                continue
            checked += 1
    assert checked == settings.RELAIS_OTP_LOCK_FAILURES
    enrolled.refresh_from_db()
    with time_machine.travel(start + 3600, tick=False):
        with pytest.raises(ApplicationError, match="bloqué"):
            otp_verify(user=olivia, code=code_of(enrolled))  # the right code, locked
        call_command("two_factor", "olivia", "--unlock", "--reason", "appel vérifié")
        assert otp_verify(user=olivia, code=code_of(enrolled))
    assert AuditEvent.objects.filter(reason__startswith="déverrouillé").exists()


def test_it_unlocks_by_itself_after_the_lock_time(olivia, enrolled, settings):
    enrolled.throttling_failure_count = settings.RELAIS_OTP_LOCK_FAILURES
    enrolled.throttling_failure_timestamp = enrolled.created_at
    enrolled.save()
    later = enrolled.created_at.timestamp() + settings.RELAIS_OTP_LOCK_MINUTES * 60 + 600
    with time_machine.travel(later, tick=False):
        assert otp_verify(user=olivia, code=code_of(enrolled))


def test_it_lets_an_admin_confirm_a_device_for_an_account_without_email(client, olivia, frozen):
    _login(client)
    client.get(reverse("accounts:two_factor_enrol"))
    device = TOTPDevice.objects.get(user=olivia)
    response = client.post(
        reverse("accounts:two_factor_enrol"), {"code": code_of(device)}, follow=True
    )
    assert "demandez à votre administrateur" in response.content.decode()
    assert mail.outbox == []
    call_command("two_factor", "olivia", "--confirm", "--reason", "vu en personne")
    frozen.shift(30)
    assert client.post(reverse("accounts:two_factor"), {"code": code_of(device)}).status_code == 302


def test_it_refuses_a_replayed_code(client, enrolled, frozen):
    _login(client)
    code = code_of(enrolled)
    assert client.post(reverse("accounts:two_factor"), {"code": code}).status_code == 302
    client.post(reverse("accounts:logout"))
    _login(client)
    response = client.post(reverse("accounts:two_factor"), {"code": code})
    assert "Code incorrect ou déjà utilisé" in response.content.decode()


def test_it_logs_out_after_five_wrong_codes_in_one_session(client, enrolled, frozen):
    _login(client)
    for _ in range(5):
        response = client.post(reverse("accounts:two_factor"), {"code": "000000"})
        frozen.shift(20)  # past each delay (1, 2, 4, 8 s): every code is checked
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db(transaction=True)
def test_it_migrated_the_former_secrets_into_django_otp():
    """Migration 0004: the former base32 secret becomes django-otp's hex key (same codes),
    confirmation and last used step kept."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0003_totp_device")])
    apps = executor.loader.project_state([("accounts", "0003_totp_device")]).apps
    user = apps.get_model("accounts", "User").objects.create(username="ancien")
    rfc = "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"  # RFC 6238 appendix B, as typed
    apps.get_model("accounts", "TotpDevice").objects.create(
        user=user, secret=rfc, confirmed_at="2025-01-01T00:00Z", last_step=42
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    device = TOTPDevice.objects.get(user_id=user.pk)
    assert device.key == "3132333435363738393031323334353637383930"
    assert device.confirmed and device.last_t == 42
    with time_machine.travel(59, tick=False):  # RFC 6238 vector: 94287082 -> 287082
        assert code_of(device) == "287082"
