"""A database outage answers 503 with Retry-After (French page, API error, FHIR
OperationOutcome), never a 500."""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db


def _down(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_it_answers_a_page_with_503_when_the_view_hits_a_dead_database(olivia, error):
    client = Client(raise_request_exception=False)
    client.force_login(olivia)
    with mock.patch("relais.regulation.views.requests_worklist", side_effect=error("down")):
        response = client.get("/demandes/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "indisponible" in response.content.decode()


def test_it_answers_503_when_the_session_middleware_hits_a_dead_database(olivia):
    client = Client(raise_request_exception=False)
    client.force_login(olivia)
    with mock.patch("django.contrib.sessions.backends.db.SessionStore.load", _down):
        response = client.get("/demandes/")
    assert response.status_code == 503 and response["Retry-After"]


def test_it_answers_the_api_with_a_structured_503(db):
    client = Client(raise_request_exception=False)
    with mock.patch("relais.accounts.api_auth.api_client_authenticate", _down):
        response = client.get("/api/v1/requests/00000000-0000-0000-0000-000000000000",
                              HTTP_AUTHORIZATION="Bearer rls_x")  # fmt: skip
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response["Retry-After"]


def test_it_answers_fhir_with_an_operation_outcome_503(db):
    client = Client(raise_request_exception=False)
    with mock.patch("relais.accounts.services.api_client_authenticate", _down):
        response = client.get("/fhir/Slot", HTTP_AUTHORIZATION="Bearer rls_x")
    assert response.status_code == 503
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "transient"


def test_it_still_answers_500_for_other_errors(olivia):
    client = Client(raise_request_exception=False)
    client.force_login(olivia)
    with mock.patch("relais.regulation.views.requests_worklist", side_effect=ValueError("bug")):
        response = client.get("/demandes/")
    assert response.status_code == 500
