"""Login throttling replayed as attacks: behind the reverse proxy, a stranger locking the
victim out, one username guessed from many addresses, spraying across 77 usernames, and
X-Forwarded-For spoofed by a client. Time is moved with time-machine, never measured."""

import logging
import time

import pytest
import time_machine
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import reverse

from relais.accounts.services import LOGIN_DEVICE_COOKIE
from relais.core.ratelimit import client_ip
from tests import factories as f

pytestmark = pytest.mark.django_db
PASSWORD = "un-mot-de-passe-solide"
BAD = "mauvais-mot-de-passe"
LOCKED = "Trop de tentatives de connexion échouées"
PROXY = "10.0.0.5"


@pytest.fixture(autouse=True)
def _fast_hasher_and_empty_cache(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RELAIS_TRUSTED_PROXIES = ["10.0.0.0/24"]
    cache.clear()
    yield
    cache.clear()


def _post(client, username, password=PASSWORD, *, remote=PROXY, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(
        reverse("accounts:login"), {"username": username, "password": password}, **extra
    )


@pytest.fixture
def frozen():
    """The clock stands still, so no delay lapses between two attempts of a burst."""
    with time_machine.travel(time.time(), tick=False) as clock:
        yield clock


def _checked(response) -> bool:
    """The password was compared (an answer other than "wait" / "locked")."""
    return LOCKED not in response.content.decode()


# --- the client address ------------------------------------------------------------------


@pytest.mark.parametrize(
    "remote, forwarded, expected",
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted sender: header ignored
        (PROXY, "198.51.100.7", "198.51.100.7"),
        (PROXY, "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # the client's own claim skipped
        (PROXY, "198.51.100.7, 10.0.0.6", "198.51.100.7"),  # two trusted hops skipped
        (PROXY, "pas-une-adresse", PROXY),
        (PROXY, "", PROXY),
        ("2001:db8::1", "198.51.100.1", "2001:db8::1"),
    ],
)
def test_it_reads_the_client_address_from_trusted_proxies_only(remote, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_it_uses_remote_addr_when_no_proxy_is_trusted(settings):
    settings.RELAIS_TRUSTED_PROXIES = []
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert client_ip(request) == PROXY


# --- the attacks ---------------------------------------------------------------------------


def test_it_does_not_let_a_stranger_behind_the_proxy_lock_the_victim_out(client, olivia, frozen):
    """Before: keyed on REMOTE_ADDR, i.e. the proxy, five bad tries by anyone locked the
    victim out for 15 minutes."""
    for _ in range(5):
        _post(client, "olivia", BAD, forwarded="203.0.113.66")
    assert LOCKED in _post(client, "olivia", forwarded="203.0.113.66").content.decode()
    assert _post(client, "olivia", forwarded="198.51.100.7").status_code == 302


def test_it_ignores_x_forwarded_for_spoofed_by_an_untrusted_client(client, olivia, frozen):
    """A client talking to Relais directly invents a new address on every try: ignored,
    its own address is locked after 5 tries (50 attempts: 5 passwords checked)."""
    checked = sum(
        _checked(_post(client, "olivia", BAD, remote="203.0.113.9", forwarded=f"192.0.2.{i}"))
        for i in range(50)
    )
    assert checked == 5
    assert LOCKED in _post(client, "olivia", remote="203.0.113.9").content.decode()


def test_it_delays_guessing_one_username_from_many_addresses(client, olivia, frozen):
    """One attempt per address from 200 addresses in one go: before, 200 passwords were
    checked; now 10, then each further one waits 1, 2, 4… s after the last failure."""
    checked = sum(
        _checked(_post(client, "olivia", BAD, forwarded=f"198.51.{i // 250}.{i % 250}"))
        for i in range(200)
    )
    assert checked == 10
    frozen.shift(1.5)
    assert _checked(_post(client, "olivia", BAD, forwarded="192.0.2.200"))
    assert not _checked(_post(client, "olivia", BAD, forwarded="192.0.2.201"))


def test_it_counts_guesses_per_hour_on_one_username(olivia):
    """An attacker with many addresses tries one password per second for an hour (the
    service calls the login form makes, without HTTP, to keep the test short).
    Before: 3,600 passwords checked. Now: 10 free, then delays doubling up to the cap
    (RELAIS_LOGIN_MAX_DELAY_SECONDS, 300 s): 10 + 9 + about 3600/300 ≈ 30."""
    from relais.accounts.services import login_failure_record, login_throttle_check
    from relais.core.errors import ApplicationError

    start = time.time()
    checked = 0
    with time_machine.travel(start, tick=False) as clock:
        for second in range(3600):
            clock.move_to(start + second)
            ip = f"198.51.{second // 250}.{second % 250}"
            try:
                login_throttle_check(username="olivia", ip=ip)
            except ApplicationError:
                continue
            checked += 1
            login_failure_record(username="olivia", ip=ip)
    assert 10 < checked <= 35, checked


def test_it_lets_the_victim_in_from_a_known_browser_while_a_stranger_hammers(
    client, olivia, frozen
):
    from django.test import Client

    # The victim signed in from this browser before: it holds the known-device cookie.
    assert _post(client, "olivia", forwarded="198.51.100.7").status_code == 302
    assert LOGIN_DEVICE_COOKIE in client.cookies
    client.post(reverse("accounts:logout"))

    stranger = Client()
    for i in range(100):
        _post(stranger, "olivia", BAD, forwarded=f"203.0.113.{i}")
    # Known browser: not delayed by the stranger, whatever the address it comes from.
    assert _post(client, "olivia", forwarded="192.0.2.77").status_code == 302
    # A new browser of the victim is delayed, never locked: it gets in after the wait.
    fresh = Client()
    answer = _post(fresh, "olivia", forwarded="192.0.2.78").content.decode()
    assert "réessayez dans" in answer and "secondes" in answer
    frozen.shift(301)
    assert _post(fresh, "olivia", forwarded="192.0.2.78").status_code == 302


def test_it_throttles_spraying_across_77_usernames(client, caplog, frozen):
    """One common password tried on 77 accounts, each from its own address (so no per-
    address or per-username limit is reached). Before: 77 checked, nothing logged. Now the
    detector switches on at 20 distinct usernames: 20 checked, the rest wait, logged."""
    for i in range(77):
        f.UserFactory(username=f"agent{i:02d}")
    with caplog.at_level(logging.WARNING, logger="relais.accounts.login"):
        checked = sum(
            _checked(_post(client, f"agent{i:02d}", "Printemps2026!", forwarded=f"198.51.100.{i}"))
            for i in range(77)
        )
    assert checked == 20
    assert "login spraying suspected" in caplog.text
    assert "agent" not in caplog.text  # no username in the logs


def test_it_throttles_spraying_from_one_address(client, frozen):
    for i in range(77):
        f.UserFactory(username=f"agent{i:02d}")
    checked = sum(
        _checked(_post(client, f"agent{i:02d}", "Printemps2026!", forwarded="198.51.100.1"))
        for i in range(77)
    )
    assert checked == 20


def test_it_answers_the_same_for_unknown_usernames_when_delayed(client, olivia, frozen):
    for i in range(10):
        _post(client, "olivia", BAD, forwarded=f"198.51.100.{i}")
        _post(client, "inconnu", BAD, forwarded=f"198.51.100.{i}")
    known = _post(client, "olivia", BAD, forwarded="192.0.2.1").content.decode()
    unknown = _post(client, "inconnu", BAD, forwarded="192.0.2.1").content.decode()
    assert "réessayez dans" in known and "réessayez dans" in unknown
