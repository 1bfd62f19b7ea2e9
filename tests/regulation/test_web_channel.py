from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from relais.notifications.models import Notification
from relais.regulation.models import Request
from relais.regulation.tokens import follow_token
from relais.territory.service_hours import is_open, next_opening
from tests import factories as f

PARIS = ZoneInfo("Europe/Paris")
HOURS = {str(d): [["08:00", "18:00"]] for d in range(1, 6)} | {"6": [["08:00", "11:00"]]}
# Wednesday 25 November 2026, 10:00 in Paris: open.
OPEN_TIME = datetime(2026, 11, 25, 10, 0, tzinfo=PARIS)


def test_it_knows_the_service_hours():
    assert is_open(HOURS, OPEN_TIME)
    assert not is_open(HOURS, datetime(2026, 11, 25, 18, 0, tzinfo=PARIS))
    assert not is_open(HOURS, datetime(2026, 11, 28, 11, 0, tzinfo=PARIS))  # Saturday 11:00
    assert not is_open(HOURS, datetime(2026, 12, 25, 10, 0, tzinfo=PARIS))  # Christmas
    assert next_opening(HOURS, datetime(2026, 11, 28, 12, 0, tzinfo=PARIS)) == datetime(
        2026, 11, 30, 8, 0, tzinfo=PARIS
    )
    assert next_opening({}, OPEN_TIME) is None


def answers(**overrides):
    from relais.regulation.web import RED_FLAG_QUESTIONS

    data = {f"rf_{key}": "non" for key, _ in RED_FLAG_QUESTIONS}
    data |= {
        "last_name": "Durand",
        "first_name": "Lucie",
        "birth_date": "1985-04-12",
        "phone": "06 39 98 12 34",
        "commune": "91228",
        "motif_text": "mal à la gorge et fièvre depuis hier",
        "consent": "on",
    }
    return data | overrides


@pytest.fixture
def web_cpts(cpts_a):
    cpts_a.service_hours = HOURS
    cpts_a.save(update_fields=["service_hours"])
    return cpts_a


@pytest.mark.django_db
def test_it_records_a_web_request_coded_and_confirmed(client, web_cpts):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    with time_machine.travel(OPEN_TIME):
        page = client.post(url, answers()).content.decode()
    req = Request.objects.get()
    assert "Demande enregistrée" in page and req.reference in page
    assert req.channel == "web" and req.cpts == web_cpts and req.status == "open"
    assert req.motif is not None and req.motif.code in {"R21", "A03", "R76"}
    sms = Notification.objects.get(kind="web_request", channel="sms")
    assert "/suivi/" in sms.body and "gorge" not in sms.body  # no health data


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    # A red flag of the text alone now asks its confirming questions, then goes to the
    # régulateur (tests/regulation/test_red_flag_routing.py).
    [{"rf_thorax": "oui"}, {"rf_enfant": "oui"}],
)
def test_it_says_call_the_15_and_queues_nothing_on_any_red_flag(client, web_cpts, overrides):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    with time_machine.travel(OPEN_TIME):
        page = client.post(url, answers(**overrides)).content.decode()
    assert "Appelez le 15" in page
    assert not Request.objects.exists() and not Notification.objects.exists()


@pytest.mark.django_db
def test_it_is_closed_outside_service_hours(client, web_cpts):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    with time_machine.travel(datetime(2026, 11, 28, 15, 0, tzinfo=PARIS)):
        page = client.get(url).content.decode()
        client.post(url, answers())
    assert "Le service en ligne est fermé" in page and "lundi 30 novembre à 08:00" in page
    assert not Request.objects.exists()


@pytest.mark.django_db
def test_it_explains_every_missing_answer(client, web_cpts):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    with time_machine.travel(OPEN_TIME):
        page = client.post(url, {"rf_thorax": "non"}).content.decode()
    assert "Répondez à cette question." in page
    assert "Votre accord est nécessaire" in page
    assert not Request.objects.exists()


@pytest.mark.django_db
def test_it_follows_a_request_by_signed_link_only(client, web_cpts):
    req = f.RequestFactory()
    page = client.get(reverse("regulation:follow", args=[follow_token(req)])).content.decode()
    assert req.reference in page and "À orienter" in page
    assert client.get(reverse("regulation:follow", args=["bidon"])).status_code == 404


@pytest.mark.django_db
def test_it_lets_a_pharmacist_refer_a_patient(client, cpts_a):
    from relais.accounts.models import Role

    user = f.member(f.UserFactory(username="pharma"), Role.EFFECTEUR, cpts=cpts_a)
    f.ProfessionalFactory(profession="pharmacien", user=user, last_name="Officine")
    client.force_login(user)
    response = client.post(
        reverse("regulation:referral_new"),
        {
            "last_name": "Martin",
            "first_name": "Paul",
            "phone": "0639981111",
            "commune": "Évry-Courcouronnes (91000) — 91228",
            "channel": "professional",
            "motif": "R21",
            "urgency": "12-24h",
        },
    )
    req = Request.objects.get()
    assert req.channel == "professional" and "Adressé par" in req.motif_text
    assert req.reference in response.content.decode()
    # A referrer creates, but does not read the operators' worklist.
    assert client.get(reverse("regulation:worklist")).status_code == 403
