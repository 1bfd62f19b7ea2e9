import pytest
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db


def token(scopes: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_api_client", name=f"c-{scopes}", scopes=scopes, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_it_suggests_cisp2_codes_for_everyday_words(client):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token('motifs:read')}"}
    response = client.get("/api/v1/motifs/suggest", {"q": "mal a la gorge depuis hier"}, **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["suggestions"][0]["code"] in {"R21", "R76"}
    assert body["red_flag"] is False
    scores = [s["score"] for s in body["suggestions"]]
    assert scores == sorted(scores, reverse=True)


def test_it_raises_a_red_flag_for_chest_pain(client):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token('motifs:read')}"}
    body = client.get(
        "/api/v1/motifs/suggest", {"q": "douleur dans la poitrine qui serre"}, **headers
    ).json()
    assert body["red_flag"] is True
    assert body["red_flag_reasons"]


def test_it_needs_the_motifs_scope(client):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token('slots:read')}"}
    assert client.get("/api/v1/motifs/suggest", {"q": "toux"}, **headers).status_code == 403
    assert client.get("/api/v1/motifs/suggest", {"q": "toux"}).status_code == 401


def test_it_shows_suggestions_and_the_red_flag_in_the_intake_form(client, olivia, coralie):
    client.force_login(olivia)
    url = reverse("regulation:motif_suggest")
    page = client.post(url, {"motif_text": "il n'arrive plus à respirer"}).content.decode()
    assert "Signe de gravité" in page
    page = client.post(url, {"motif_text": "otite bébé"}).content.decode()
    assert 'data-motif-code="H' in page
    assert "Signe de gravité" not in page
    client.force_login(coralie)
    assert client.post(url, {"motif_text": "toux"}).status_code == 403
