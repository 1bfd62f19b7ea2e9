"""CACHE_URL: a per-process cache by default, Redis shared by every web worker in production."""

import socket
import uuid

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from relais.accounts.services import api_client_create, api_client_throttled
from relais.settings import caches_from_url

REDIS_URL = "redis://127.0.0.1:6379/15"
REDIS_H4_URL = "redis://127.0.0.1:6379/7"  # the login / rate-limit tests below


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_it_defaults_to_a_per_process_cache():
    assert caches_from_url("")["default"]["BACKEND"].endswith("LocMemCache")


def test_it_takes_a_redis_url_and_refuses_anything_else():
    config = caches_from_url("rediss://cache.internal:6380/2")["default"]
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert config["LOCATION"] == "rediss://cache.internal:6380/2"
    with pytest.raises(ValueError, match="redis://"):
        caches_from_url("memcached://127.0.0.1:11211")


@pytest.mark.django_db
@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (CI has it)")
def test_the_api_rate_limit_counts_in_redis_for_every_worker():
    client, _ = api_client_create(name=f"éditeur {uuid.uuid4().hex[:6]}", scopes=["slots:read"])
    # override_settings rebuilds the cache handlers (Django's setting_changed receiver).
    with override_settings(CACHES=caches_from_url(REDIS_URL)):
        assert isinstance(caches["default"], RedisCache)
        results = [
            api_client_throttled(client=client, bucket="api", limit_per_minute=2) for _ in range(3)
        ]
    assert results == [False, False, True]
    # Another worker (another connection, another process) reads the same counter.
    other = RedisCache(REDIS_URL, {"KEY_PREFIX": "relais"})
    keys = [
        k for k in other._cache.get_client().keys("relais:*") if str(client.public_id) in k.decode()
    ]
    assert len(keys) == 1
    assert other._cache.get_client().get(keys[0]) == b"3"
    other._cache.get_client().delete(*keys)


def _flush(url):
    RedisCache(url, {"KEY_PREFIX": "relais"})._cache.get_client().flushdb()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (CI has it)")
def test_it_lets_exactly_the_api_limit_through_from_concurrent_workers():
    """Measured before: "30/min let 85 through" (three processes, each its own LocMem
    counter). With Redis, 85 calls from 8 threads (8 connections) against a limit of 30:
    exactly 30 allowed."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    client, _ = api_client_create(name=f"éditeur {uuid.uuid4().hex[:6]}", scopes=["slots:read"])
    _flush(REDIS_H4_URL)
    config = caches_from_url(REDIS_H4_URL)["default"]

    def call(_):
        # Django's cache handler is per thread: each thread has its own RedisCache and
        # connection, like separate worker processes.
        return api_client_throttled(client=client, bucket="api", limit_per_minute=30)

    import time_machine

    # One fixed-window minute (mid-minute, so the window cannot change during the run).
    with (
        override_settings(CACHES={"default": config}),
        time_machine.travel("2026-12-01 10:00:30+00:00", tick=False),
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        refused = list(pool.map(call, range(85)))
    connection.close()
    assert refused.count(False) == 30 and refused.count(True) == 55
    _flush(REDIS_H4_URL)


@pytest.mark.django_db
@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (CI has it)")
def test_it_counts_login_failures_of_every_worker_in_redis():
    """Before, without CACHE_URL: each of 3 workers allowed 5 tries (15). With Redis the
    five failures are shared: the sixth try on any worker is refused."""
    from unittest import mock

    from relais.accounts.services import login_failure_record, login_throttle_check
    from relais.core.errors import ApplicationError

    _flush(REDIS_H4_URL)
    workers = [RedisCache(REDIS_H4_URL, {"KEY_PREFIX": "relais"}) for _ in range(3)]
    refused = 0
    for attempt in range(15):
        with mock.patch("relais.accounts.services.cache", workers[attempt % 3]):
            try:
                login_throttle_check(username="olivia", ip="198.51.100.7")
            except ApplicationError:
                refused += 1
                continue
            login_failure_record(username="olivia", ip="198.51.100.7")
    assert refused == 10  # 5 checked, 10 refused
    _flush(REDIS_H4_URL)


def test_it_fails_the_deploy_check_with_the_per_process_cache_in_production(settings):
    from relais.accounts.checks import shared_cache_required

    settings.DEBUG = False
    settings.SITE_URL = "https://relais.example.fr"
    settings.CACHES = caches_from_url("")
    assert [e.id for e in shared_cache_required()] == ["relais.accounts.E001"]
    settings.CACHES = caches_from_url(REDIS_H4_URL)
    assert shared_cache_required() == []
    settings.SITE_URL = "http://127.0.0.1:8000"  # the demo: one process, no Redis needed
    settings.CACHES = caches_from_url("")
    assert shared_cache_required() == []
