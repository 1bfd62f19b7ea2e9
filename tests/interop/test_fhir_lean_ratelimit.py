"""The FHIR rate limit (issue 22 item 2): RELAIS_FHIR_RATE_LIMIT calls per API client per
minute (environment: tests/audit/test_smaller_findings.py), counted in the shared cache
(relais.core.ratelimit, CACHE_URL: every gunicorn worker counts in the same window),
answered 429 with an OperationOutcome and the seconds left in Retry-After."""

import socket
import threading
import uuid

import pytest
import time_machine
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from relais.accounts.models import ApiClient
from relais.audit.models import AuditEvent
from relais.core import ratelimit
from relais.settings import caches_from_url
from tests import factories as f
from tests.interop.conftest import bearer, make_token, validate
from tests.interop.test_fhir_slots import sas_query

pytestmark = pytest.mark.django_db
REDIS_URL = "redis://127.0.0.1:6379/14"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def limit_two(monkeypatch):
    from relais.interop import views

    monkeypatch.setattr(views, "RATE_LIMIT_PER_MINUTE", 2)


def test_the_third_call_of_the_minute_is_refused_with_retry_after(client, sas91, limit_two):
    name = f"plateforme-{uuid.uuid4().hex[:6]}"
    token = make_token("slots:read", name=name)
    pro = f.ProfessionalFactory()
    with time_machine.travel("2026-12-02 10:00:45+01:00", tick=False):
        responses = [
            client.get("/fhir/Slot", sas_query(pro.rpps), **bearer(token)) for _ in range(3)
        ]
    assert [r.status_code for r in responses] == [200, 200, 429]
    refused = responses[2]
    assert refused["Retry-After"] == "15"  # the seconds left in the minute's window
    assert refused["Content-Type"].startswith("application/fhir+json")
    outcome = validate(refused.json())
    assert outcome.issue[0].code == "throttled"
    assert "15 s" in outcome.issue[0].diagnostics
    assert AuditEvent.objects.filter(api_client=name, reason__startswith="429 GET").count() == 1
    # The next minute opens a new window.
    with time_machine.travel("2026-12-02 10:01:01+01:00", tick=False):
        assert client.get("/fhir/Slot", sas_query(pro.rpps), **bearer(token)).status_code == 200


def test_calls_counted_elsewhere_count_too(client, sas91, limit_two):
    """The counter is the cache's, not the view's: hits counted by another caller of the
    same window (another worker, when the cache is shared) close the door."""
    name = f"plateforme-{uuid.uuid4().hex[:6]}"
    token = make_token("slots:read", name=name)
    subject = str(ApiClient.objects.get(name=name).public_id)
    with time_machine.travel("2026-12-02 10:00:10+01:00", tick=False):
        for _ in range(2):
            ratelimit.hit("fhir", subject, (ratelimit.Limit(2, 60),))
        response = client.get("/fhir/Slot", sas_query("99900000001"), **bearer(token))
    assert response.status_code == 429
    assert response["Retry-After"] == "50"


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (CI has it)")
def test_with_redis_every_worker_counts_in_the_same_window(client, sas91, limit_two):
    """CACHE_URL=redis://…: a hit counted on another connection (a thread has its own,
    as another gunicorn worker would) is seen by this worker."""
    name = f"plateforme-{uuid.uuid4().hex[:6]}"
    token = make_token("slots:read", name=name)
    subject = str(ApiClient.objects.get(name=name).public_id)
    RedisCache(REDIS_URL, {"KEY_PREFIX": "relais"})._cache.get_client().flushdb()
    with (
        override_settings(CACHES=caches_from_url(REDIS_URL)),
        time_machine.travel("2026-12-02 10:00:30+01:00", tick=False),
    ):
        assert isinstance(caches["default"], RedisCache)

        def other_worker():
            ratelimit.hit("fhir", subject, (ratelimit.Limit(2, 60),))

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join()
        codes = [
            client.get("/fhir/Slot", sas_query("99900000001"), **bearer(token)).status_code
            for _ in range(2)
        ]
    assert codes == [200, 429]
    RedisCache(REDIS_URL, {"KEY_PREFIX": "relais"})._cache.get_client().flushdb()
