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
