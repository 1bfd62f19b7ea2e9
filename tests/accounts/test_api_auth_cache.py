"""The JSON API's short token cache (relais/accounts/api_auth.py, issue 22): a bearer
token and its client's scope are resolved once per RELAIS_API_AUTH_CACHE_SECONDS per
process; a revocation (or a new SAS limit) is seen at most that delay later, at once
with 0."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from relais.accounts import api_auth
from relais.accounts.models import ApiClient
from relais.accounts.services import api_client_revoke
from tests.api.test_api import auth, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(settings):
    settings.RELAIS_API_AUTH_CACHE_SECONDS = 30
    api_auth.api_auth_cache_clear()
    yield
    api_auth.api_auth_cache_clear()


def _later(monkeypatch, seconds):
    now = time.monotonic()
    monkeypatch.setattr(api_auth.time, "monotonic", lambda: now + seconds)


def _list(client, token):
    return client.get("/api/v1/requests", **auth(token))


def test_a_second_call_does_not_look_the_token_and_scope_up_again(client, sas91, cached):
    token = make_token("requests:read", name="logiciel-cache")
    with CaptureQueriesContext(connection) as first:
        assert _list(client, token).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert _list(client, token).status_code == 200

    def lookups(queries):
        return [
            q
            for q in queries
            if '"accounts_apiclient"."token_hash"' in q["sql"] or "territory_sas" in q["sql"]
        ]

    assert len(lookups(first)) >= 2
    assert lookups(second) == []


def test_a_revoked_token_is_refused_once_the_delay_has_passed(client, sas91, cached, monkeypatch):
    token = make_token("requests:read", name="logiciel-revoque")
    assert _list(client, token).status_code == 200
    api_client_revoke(client=ApiClient.objects.get(name="logiciel-revoque"))
    # Within the documented delay this worker still knows the token...
    assert _list(client, token).status_code == 200
    _later(monkeypatch, 31)
    # ...not after it.
    assert _list(client, token).status_code == 401


def test_a_new_sas_limit_applies_after_the_delay(client, sas91, sas43, cached, monkeypatch):
    token = make_token("requests:read", name="logiciel-limite")
    assert _list(client, token).status_code == 200
    ApiClient.objects.get(name="logiciel-limite").sas_scope.add(sas43)
    resolved = api_auth._resolve_token(token)
    assert resolved[1].sas_ids == {sas91.pk, sas43.pk}  # cached, unlimited
    _later(monkeypatch, 31)
    assert api_auth._resolve_token(token)[1].sas_ids == {sas43.pk}


def test_without_the_cache_a_revocation_is_immediate(client, sas91, settings):
    settings.RELAIS_API_AUTH_CACHE_SECONDS = 0
    token = make_token("requests:read", name="logiciel-sans-cache")
    assert _list(client, token).status_code == 200
    api_client_revoke(client=ApiClient.objects.get(name="logiciel-sans-cache"))
    assert _list(client, token).status_code == 401


def test_an_unknown_token_is_refused_and_not_cached(client, sas91, cached):
    assert _list(client, "rls_" + "x" * 40).status_code == 401
    assert api_auth._resolved == {}
