"""Issue 15, items 3-4: the confirming questions of the criteria a motif matches.

Web form and referral form: asked before anything is stored; an answer that confirms the
criterion shows "Appelez le 15 maintenant" and stores nothing (no patient, no request);
all "non": stored with the answers, a red flag of the text still going to the régulateur.
Phone intake (ARM/OSNP): the questions appear under the motif (htmx partial), answers are
optional, stored with the request and counted in the indicators."""

import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import Role
from relais.notifications.models import Notification
from relais.regulation.models import Patient, RedFlagAnswer, Request, RequestStatus
from relais.regulation.red_flags import (
    _polarity,
    alarm_answer,
    question_index,
    red_flag_question_stats_for,
)
from tests import factories as f
from tests.regulation.test_red_flag_routing import intake
from tests.regulation.test_red_flag_routing_fakes import fake_matcher  # noqa: F401
from tests.regulation.test_web_abuse import _solved_payload
from tests.regulation.test_web_channel import HOURS, OPEN_TIME, answers

pytestmark = pytest.mark.django_db

ACS = ("acs.rest", "acs.radiation", "acs.sweats")


@pytest.fixture
def web_cpts(cpts_a):
    cpts_a.service_hours = HOURS
    cpts_a.save(update_fields=["service_hours"])
    return cpts_a


@pytest.fixture
def pharmacist(cpts_a):
    user = f.member(f.UserFactory(username="pharma"), Role.EFFECTEUR, cpts=cpts_a)
    f.ProfessionalFactory(profession="pharmacien", user=user, last_name="Officine")
    return user


def nothing_stored():
    return not (
        Patient.objects.exists() or Request.objects.exists() or Notification.objects.exists()
    )


def rfq(value, ids=ACS):
    return {f"rfq_{qid}": value for qid in ids}


# --- the patients' web form ---------------------------------------------------------------


@pytest.mark.usefixtures("fake_matcher")
def test_the_web_form_asks_the_questions_of_the_matched_criterion_before_storing(client, web_cpts):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    with time_machine.travel(OPEN_TIME):
        page = client.post(url, answers(motif_text="douleur dans la poitrine")).content.decode()
    assert "La douleur est-elle apparue au repos" in page
    assert "appelle quelques questions importantes" in page
    assert 'value="Durand"' in page  # nothing typed is lost
    assert nothing_stored()


@pytest.mark.parametrize("question", ACS)
@pytest.mark.usefixtures("fake_matcher")
def test_any_oui_on_the_web_form_says_call_the_15_and_stores_nothing(client, web_cpts, question):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    data = answers(motif_text="douleur dans la poitrine") | rfq("non") | {f"rfq_{question}": "oui"}
    with time_machine.travel(OPEN_TIME):
        page = client.post(url, data).content.decode()
    assert "Appelez le 15 maintenant" in page and 'href="tel:15"' in page
    assert nothing_stored()


@pytest.mark.usefixtures("fake_matcher")
def test_all_non_on_the_web_form_stores_the_request_with_its_answers(client, web_cpts):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    with time_machine.travel(OPEN_TIME):
        page = client.post(
            url, answers(motif_text="douleur dans la poitrine") | rfq("non")
        ).content.decode()
    assert "Demande enregistrée" in page
    req = Request.objects.get()
    assert not req.red_flag and req.status == RequestStatus.OPEN  # a candidate, denied
    assert sorted(req.red_flag_answers.values_list("question_id", "answer")) == [
        (q, "no") for q in sorted(ACS)
    ]


@pytest.mark.usefixtures("fake_matcher")
def test_a_text_red_flag_from_the_web_stays_one_and_goes_to_the_regulator(client, web_cpts):
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    text = "douleur dans la poitrine qui serre"
    with time_machine.travel(OPEN_TIME):
        client.post(url, answers(motif_text=text) | rfq("non"))
    req = Request.objects.get()
    assert req.red_flag and req.red_flag_criteria == ["acs"]
    assert req.status == RequestStatus.TO_REGULATE and req.priority == "P0"


@pytest.mark.usefixtures("fake_matcher")
def test_a_question_worded_the_other_way_round_alarms_on_non(client, web_cpts):
    """ "Peut-il poser le menton sur la poitrine ?" — "Non" is the stiff neck."""
    assert alarm_answer(question_index()["meningeal.neck"][1]) == "no"
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    text = "mal à la nuque depuis hier"
    with time_machine.travel(OPEN_TIME):
        stiff = client.post(
            url,
            answers(motif_text=text) | {"rfq_meningeal.neck": "non", "rfq_meningeal.fever": "non"},
        )
        assert "Appelez le 15 maintenant" in stiff.content.decode() and nothing_stored()
        client.post(
            url,
            answers(motif_text=text) | {"rfq_meningeal.neck": "oui", "rfq_meningeal.fever": "non"},
        )
    assert Request.objects.get().red_flag_answers.count() == 2


@pytest.mark.usefixtures("fake_matcher")
def test_the_web_form_keeps_its_proof_of_work_through_the_questions(client, web_cpts, settings):
    settings.RELAIS_WEB_FORM_POW = True
    settings.RELAIS_WEB_FORM_POW_COST = 10
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    text = "douleur dans la poitrine"
    with time_machine.travel(OPEN_TIME):
        first = client.get(url).content.decode()
        asked = client.post(url, answers(motif_text=text, altcha=_solved_payload(first)))
        assert asked.status_code == 200 and "<altcha-widget" in asked.content.decode()
        assert nothing_stored()
        unsolved = client.post(url, answers(motif_text=text) | rfq("non"))
        assert unsolved.status_code == 400 and not Request.objects.exists()
        payload = _solved_payload(asked.content.decode())
        done = client.post(url, answers(motif_text=text, altcha=payload) | rfq("non"))
    assert done.status_code == 200 and Request.objects.count() == 1


# --- the referral form (pharmacist, nurse) -------------------------------------------------


@pytest.mark.usefixtures("fake_matcher")
def test_the_referral_form_asks_then_says_call_the_15_and_stores_nothing(client, pharmacist):
    client.force_login(pharmacist)
    url = reverse("regulation:referral_new")
    data = intake(channel="professional", motif_text="douleur dans la poitrine")
    page = client.post(url, data).content.decode()
    assert "répondez par Oui ou Non" in page and 'name="rfq_acs.rest"' in page
    assert 'value="nsp"' not in page  # a referrer answers oui or non
    assert nothing_stored()
    page = client.post(url, data | rfq("non") | {"rfq_acs.sweats": "oui"}).content.decode()
    assert "Appelez le 15 maintenant" in page and "Rien n'a été transmis" in page
    assert nothing_stored()
    client.post(url, data | rfq("non"))
    req = Request.objects.get()
    assert req.channel == "professional" and req.red_flag_answers.count() == 3
    assert set(req.red_flag_answers.values_list("answered_by", flat=True)) == {pharmacist.pk}


@pytest.mark.usefixtures("fake_matcher")
def test_a_referral_with_a_text_red_flag_goes_to_the_regulator(client, pharmacist):
    client.force_login(pharmacist)
    data = intake(channel="professional", motif_text="douleur poitrine qui serre, essoufflé")
    ids = (*ACS, "dyspnea_severe.speak", "dyspnea_severe.blue", "dyspnea_severe.rest")
    page = client.post(reverse("regulation:referral_new"), data).content.decode()
    shown = set(re.findall(r'name="rfq_([^"]+)"', page))
    assert 2 <= len(shown) <= 4 and shown <= set(ids)
    replies = {f"rfq_{q}": ("oui" if q == "dyspnea_severe.speak" else "non") for q in shown}
    client.post(reverse("regulation:referral_new"), data | replies)
    req = Request.objects.get()
    assert req.status == RequestStatus.TO_REGULATE
    assert req.red_flag_criteria == ["acs", "dyspnea_severe"]


# --- the phone intake (ARM / OSNP) ---------------------------------------------------------


@pytest.mark.usefixtures("fake_matcher")
def test_the_intake_panel_shows_the_questions_as_keyboard_radio_groups(client, olivia):
    client.force_login(olivia)
    url = reverse("regulation:red_flag_questions")
    page = client.post(
        url, {"motif_text": "douleur dans la poitrine", "rfq_acs.rest": "oui"}
    ).content.decode()
    assert page.count('<fieldset class="rfq"') == 3
    assert page.count('type="radio"') == 9  # oui / non / ne sait pas, per question
    assert "<legend>La douleur est-elle apparue au repos" in page
    assert re.search(r'name="rfq_acs.rest" value="oui" checked', page)  # kept on refresh
    assert "<kbd>o</kbd> oui" in page
    assert client.post(url, {"motif_text": "mal à la gorge"}).content.decode().strip() == ""
    assert client.get(url).status_code == 405
    referral = client.post(url, {"motif_text": "douleur poitrine", "rf_mode": "referral"})
    assert 'value="nsp"' not in referral.content.decode()


@pytest.mark.usefixtures("fake_matcher")
def test_the_intake_panel_shows_open_questions_as_prompts_only(client, olivia):
    client.force_login(olivia)
    page = client.post(
        reverse("regulation:red_flag_questions"), {"motif_text": "il a avalé un produit"}
    ).content.decode()
    assert "À demander aussi" in page and "Quel produit, quelle quantité" in page
    assert 'name="rfq_intoxication.what"' not in page


def test_the_request_form_includes_the_panel(client, olivia):
    client.force_login(olivia)
    page = client.get(reverse("regulation:request_new")).content.decode()
    assert 'id="red-flag-questions"' in page and "red-flag-questions.js" in page
    assert 'hx-trigger="input from:#id_motif_text delay:400ms"' in page


@pytest.mark.usefixtures("fake_matcher")
def test_the_intake_stores_the_answers_and_a_oui_confirms_the_criterion(client, olivia):
    client.force_login(olivia)
    data = intake(motif_text="douleur dans la poitrine") | {"rfq_acs.rest": "oui"}
    data["rfq_acs.radiation"] = "non"
    assert client.post(reverse("regulation:request_new"), data).status_code == 302
    req = Request.objects.get()
    assert req.status == RequestStatus.TO_REGULATE and req.red_flag_criteria == ["acs"]
    assert "(confirmé à l'appel)" in req.red_flag_reasons and req.priority == "P0"
    got = dict(req.red_flag_answers.values_list("question_id", "answer"))
    assert got == {"acs.rest": "yes", "acs.radiation": "no", "acs.sweats": "unknown"}
    assert set(req.red_flag_answers.values_list("answered_by", flat=True)) == {olivia.pk}


@pytest.mark.usefixtures("fake_matcher")
def test_the_intake_without_a_oui_stays_an_ordinary_request(client, olivia):
    client.force_login(olivia)
    data = intake(motif_text="douleur dans la poitrine") | rfq("non")
    client.post(reverse("regulation:request_new"), data)
    req = Request.objects.get()
    assert not req.red_flag and req.status == RequestStatus.OPEN
    assert req.red_flag_answers.count() == 3


# --- indicators -----------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_matcher")
def test_the_indicators_count_the_questions_asked_and_confirmed(client, olivia, regis):
    client.force_login(olivia)
    client.post(
        reverse("regulation:request_new"),
        intake(motif_text="douleur dans la poitrine") | {"rfq_acs.rest": "oui"},
    )
    client.post(
        reverse("regulation:request_new"),
        intake(motif_text="douleur dans la poitrine", last_name="Martin") | rfq("non"),
    )
    today = timezone.localdate()
    rows = red_flag_question_stats_for(start=today, end=today)
    assert rows == [
        {
            "criterion_id": "acs",
            "label": rows[0]["label"],
            "asked": 6,
            "confirmed": 1,
            "denied": 3,
            "unknown": 2,
            "requests": 2,
        }
    ]
    client.force_login(regis)
    api = client.get("/api/v1/indicators", {"start": today, "end": today}).json()
    assert api["red_flag_questions"][0]["confirmed"] == 1
    page = client.get(reverse("indicators:dashboard")).content.decode()
    assert "Questions de gravité posées à l'accueil" in page
    # Another SAS sees none of them.
    assert red_flag_question_stats_for(start=today, end=today, sas_ids=[], cpts_ids=[]) == []


def test_every_question_of_the_polarity_table_is_in_the_referential():
    assert set(_polarity()) <= set(question_index())
    assert RedFlagAnswer.Answer.values == ["yes", "no", "unknown"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x" * 5000,
        "😀🔥 douleur poitrine 😀",
        "<script>alert(1)</script>",
        "a\x00b",
        "chest pain",
    ],
)
def test_the_questions_panel_answers_bad_input_without_error(client, olivia, web_cpts, text):
    client.force_login(olivia)
    panel = client.post(reverse("regulation:red_flag_questions"), {"motif_text": text})
    # A NUL byte is refused as a whole by the project's input guard (400), never a 500.
    assert panel.status_code in (200, 400) and "<script>alert" not in panel.content.decode()
    url = reverse("regulation:web_request", args=[web_cpts.public_id])
    with time_machine.travel(OPEN_TIME):
        page = client.post(url, answers(motif_text=text))
    assert page.status_code in (200, 400)
