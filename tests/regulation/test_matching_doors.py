"""Bad input on every door of the motif matcher (issue 15): the API (GET and POST), the
htmx suggestion under the intake form and the public web form answer clearly (or with a
structured error), never a 500, and raise the same flag for the same text."""

from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from tests.regulation.test_web_channel import OPEN_TIME, answers

pytestmark = pytest.mark.django_db

RED = "<b>douleur dans la poitrine</b> 😰 qui serre depuis 1h"
BAD_TEXTS = [
    "",
    "x" * 5000,
    "😷🤒🥵",
    "<script>alert('x')</script>",
    "fièvre\x00 39",
    "I have chest pain qui serre, sudando mucho",
]


@pytest.fixture
def api_headers():
    out = StringIO()
    call_command("create_api_client", name="doors", scopes="motifs:read", stdout=out)
    return {"HTTP_AUTHORIZATION": f"Bearer {out.getvalue().strip().splitlines()[-1]}"}


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_the_api_answers_bad_text_clearly_never_500(client, api_headers, text):
    for response in (
        client.get("/api/v1/motifs/suggest", {"q": text}, **api_headers),
        client.post(
            "/api/v1/motifs/suggest", {"q": text}, content_type="application/json", **api_headers
        ),
    ):
        assert response.status_code in (200, 400, 422), response.content[:300]
        body = response.json()
        if response.status_code == 400:  # the NUL guard in front of every door
            assert "\x00" in text and body["error"]["code"] == "invalid_input"
        elif response.status_code == 422:
            assert len(text) > 500 and body["error"]["code"] == "validation_error"
        else:
            assert isinstance(body["suggestions"], list)
            assert body["red_flag"] is bool(body["red_flag_reasons"])


def test_the_api_gives_criterion_ids_labels_candidates_and_qualifiers(client, api_headers):
    body = client.get("/api/v1/motifs/suggest", {"q": RED}, **api_headers).json()
    assert body["red_flag"] is True
    assert body["red_flag_reasons"][0]["id"] == "acs"
    assert "thoracique" in body["red_flag_reasons"][0]["label"]
    calm = client.get(
        "/api/v1/motifs/suggest",
        {"q": "toux depuis 3 jours, pas de douleur thoracique"},
        **api_headers,
    ).json()
    assert calm["red_flag"] is False
    assert {"text": "douleur thoracique", "criterion": "acs", "qualifier": "negation"} in calm[
        "qualifiers"
    ]
    candidate = client.get("/api/v1/motifs/suggest", {"q": "mal à la tête"}, **api_headers).json()
    ids = [c["id"] for c in candidate["candidate_criteria"]]
    assert "thunderclap_headache" in ids
    questions = candidate["candidate_criteria"][ids.index("thunderclap_headache")]["questions"]
    assert questions and all(q["id"] and q["text"].endswith("?") for q in questions)


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_the_intake_suggestion_answers_bad_text_never_500(client, olivia, text):
    client.force_login(olivia)
    response = client.post(reverse("regulation:motif_suggest"), {"motif_text": text})
    assert response.status_code == (400 if "\x00" in text else 200)
    if "\x00" in text:
        assert "Caractère nul" in response.content.decode()


def test_every_door_flags_the_same_noisy_text(client, olivia, api_headers, cpts_a):
    api = client.get("/api/v1/motifs/suggest", {"q": RED}, **api_headers).json()
    client.force_login(olivia)
    page = client.post(reverse("regulation:motif_suggest"), {"motif_text": RED}).content.decode()
    assert api["red_flag"] is True and "Signe de gravité" in page


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_the_web_form_answers_bad_text_never_500(client, cpts_a, text):
    from tests.regulation.test_web_channel import HOURS

    cpts_a.service_hours = HOURS
    cpts_a.save(update_fields=["service_hours"])
    url = reverse("regulation:web_request", args=[cpts_a.public_id])
    with time_machine.travel(OPEN_TIME):
        response = client.post(url, answers(motif_text=text))
    if "\x00" in text:  # refused in front of every door, with the same French sentence
        assert response.status_code == 400
        assert "Caractère nul" in response.content.decode()
    else:
        assert response.status_code == 200
        assert "<html" in response.content.decode().lower()
