"""Pages that show identities are never stored by a browser or a proxy cache."""

import pytest
from django.urls import reverse

from relais.regulation.tokens import follow_token
from tests import factories as f
from tests.interop.conftest import bearer, make_token

pytestmark = pytest.mark.django_db


def test_it_sends_no_store_on_every_page_of_a_signed_in_user(client, olivia, snp_request):
    client.force_login(olivia)
    for url in [
        reverse("regulation:request_detail", args=[snp_request.public_id]),
        "/",
        reverse("regulation:request_new"),
    ]:
        response = client.get(url)
        assert response.status_code in (200, 302), url
        assert response["Cache-Control"] == "no-store, private", url


def test_it_sends_no_store_on_the_patients_follow_page(client, cpts_a):
    req = f.RequestFactory()
    response = client.get(reverse("regulation:follow", args=[follow_token(req)]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    forged = client.get(reverse("regulation:follow", args=["bidon"]))
    assert forged["Cache-Control"] == "no-store, private"


def test_it_sends_no_store_to_an_api_client(client, snp_request):
    token = make_token("requests:read")
    response = client.get(f"/api/v1/requests/{snp_request.public_id}", **bearer(token))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"


def test_it_leaves_anonymous_public_pages_alone(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
