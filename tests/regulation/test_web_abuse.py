"""Abuse limits of the anonymous CPTS web form (issue 14, item 4): the measured attack
was 40 posts in 4.4 s creating 40 worklist requests and texting 40 arbitrary numbers."""

import html
import json
import re

import altcha
import pytest
import time_machine
from django.test import RequestFactory, override_settings
from django.urls import reverse

from relais.core.ratelimit import client_ip
from relais.notifications.models import Notification
from relais.regulation.models import Request
from tests.regulation.test_web_channel import HOURS, OPEN_TIME, answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def web_cpts(cpts_a):
    cpts_a.service_hours = HOURS
    cpts_a.phone = "01 60 00 00 00"
    cpts_a.save(update_fields=["service_hours", "phone"])
    return cpts_a


def _url(cpts):
    return reverse("regulation:web_request", args=[cpts.public_id])


def _solved_payload(page: str) -> str:
    """Solve the challenge embedded in the page as the browser widget would."""
    found = re.search(r'challenge="([^"]+)"', page)
    assert found, "no ALTCHA challenge in the page"
    challenge = altcha.Challenge.from_dict(json.loads(html.unescape(found[1])))
    solution = altcha.solve_challenge(challenge)
    return altcha.Payload(challenge, solution).to_base64()


def test_it_accepts_n_posts_from_one_address_and_refuses_the_rest(client, web_cpts, settings):
    """The attack replayed: 40 posts from one address, each with another phone number.
    Before: 40 requests, 40 SMS. After: 5 requests and 5 SMS, 35 answers 429."""
    statuses = []
    with time_machine.travel(OPEN_TIME):
        for i in range(40):
            response = client.post(_url(web_cpts), answers(phone=f"06 39 98 {i // 10}{i % 10} 34"))
            statuses.append(response.status_code)
    limit = settings.RELAIS_WEB_FORM_PER_IP_10MIN
    assert statuses.count(200) == limit and statuses.count(429) == 40 - limit
    assert Request.objects.filter(channel="web").count() == limit
    assert Notification.objects.filter(kind="web_request", channel="sms").count() <= limit
    # The refusal keeps what the patient typed and says what to do, in French.
    page = response.content.decode()
    assert 'value="Durand"' in page and "mal à la gorge" in page
    assert "Trop de demandes" in page and "appelez la CPTS" in page
    assert int(response["Retry-After"]) > 0


@override_settings(RELAIS_WEB_FORM_PER_IP_10MIN=1000, RELAIS_WEB_FORM_PER_IP_DAY=1000)
def test_it_texts_one_number_at_most_n_times_an_hour(client, web_cpts, settings):
    with time_machine.travel(OPEN_TIME):
        for _ in range(10):
            assert client.post(_url(web_cpts), answers()).status_code == 200
    assert Request.objects.filter(channel="web").count() == 10  # all kept for the operators
    sms = Notification.objects.filter(kind="web_request", channel="sms")
    assert sms.count() == settings.RELAIS_SMS_PER_NUMBER_PER_HOUR == 3


@override_settings(RELAIS_WEB_FORM_PER_IP_10MIN=1000, RELAIS_WEB_FORM_PER_IP_DAY=1000)
def test_it_limits_bursts_for_one_cpts_from_many_addresses(client, web_cpts, settings):
    settings.RELAIS_WEB_FORM_PER_CPTS_10MIN = 8
    statuses = []
    with time_machine.travel(OPEN_TIME):
        for i in range(12):
            statuses.append(
                client.post(_url(web_cpts), answers(), REMOTE_ADDR=f"198.51.100.{i}").status_code
            )
    assert statuses.count(200) == 8 and statuses.count(429) == 4
    assert Request.objects.filter(channel="web").count() == 8


def test_it_refuses_a_post_without_a_valid_proof_of_work(client, web_cpts, settings):
    settings.RELAIS_WEB_FORM_POW = True
    settings.RELAIS_WEB_FORM_POW_COST = 10  # cheap to solve here; the check is the same
    with time_machine.travel(OPEN_TIME):
        page = client.get(_url(web_cpts)).content.decode()
        assert "<altcha-widget" in page and "<noscript>" in page
        missing = client.post(_url(web_cpts), answers())
        forged_challenge = altcha.create_challenge("PBKDF2/SHA-256", 10, hmac_secret="not ours")
        forged = altcha.Payload(
            forged_challenge, altcha.solve_challenge(forged_challenge)
        ).to_base64()
        wrong_key = client.post(_url(web_cpts), answers(altcha=forged))
        garbage = client.post(_url(web_cpts), answers(altcha="eyJ{{not base64"))
        assert Request.objects.count() == 0
        payload = _solved_payload(page)
        accepted = client.post(_url(web_cpts), answers(altcha=payload))
        replayed = client.post(_url(web_cpts), answers(altcha=payload))
    assert missing.status_code == wrong_key.status_code == garbage.status_code == 400
    assert "anti-robot" in missing.content.decode()
    assert 'value="Durand"' in missing.content.decode()  # nothing typed is lost
    assert accepted.status_code == 200 and replayed.status_code == 400
    assert Request.objects.filter(channel="web").count() == 1


def test_it_reads_the_client_address_from_trusted_proxies_only(settings):
    rf = RequestFactory()
    spoofed = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert client_ip(spoofed) == "203.0.113.9"  # no proxy trusted: the header is ignored
    settings.RELAIS_TRUSTED_PROXIES = ["127.0.0.1", "10.1.0.0/16"]
    chain = rf.get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7, 10.1.2.3"
    )
    assert client_ip(chain) == "198.51.100.7"  # the client's own prefix is not believed
    direct = rf.get("/", REMOTE_ADDR="198.51.100.8", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(direct) == "198.51.100.8"
    bad_hop = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="junk")
    assert client_ip(bad_hop) == "127.0.0.1"
