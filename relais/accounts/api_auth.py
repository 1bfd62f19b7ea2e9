"""Who calls the JSON API (/api/v1) and what they may do: the three authentications of the
NinjaAPI (client certificate, bearer token, session) and `require_api`, which every router
calls. Routers import this module, never `relais.api` (which only assembles them); errors
are mapped in `relais.core.api`."""

import time

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from relais.accounts.models import hash_token
from relais.accounts.permissions import Scope, scope_for, scope_for_api_client
from relais.accounts.services import (
    api_client_authenticate,
    api_client_throttled,
    api_client_touch,
)
from relais.audit.services import audit_record_deferred
from relais.core.errors import ApplicationError

# Bearer tokens resolved in the last RELAIS_API_AUTH_CACHE_SECONDS, per process: token
# hash -> (expiry on the monotonic clock, client, scope). A hit spares the token lookup
# and the scope query of every call; the price is a delay: a revoked token, or a client
# whose SAS/CPTS limits changed, is seen at most that many seconds later by each web
# worker (docs/operations.md). 0 turns it off (the tests do, except those of the cache).
_resolved: dict[str, tuple[float, object, Scope]] = {}
_RESOLVED_MAX = 1024


def _resolve_token(token: str):
    ttl = getattr(settings, "RELAIS_API_AUTH_CACHE_SECONDS", 0)
    key = hash_token(token) if ttl > 0 and token.startswith("rls_") else None
    if key is not None:
        hit = _resolved.get(key)
        if hit is not None and hit[0] > time.monotonic():
            api_client_touch(hit[1])
            return hit[1], hit[2]
    client = api_client_authenticate(token=token)
    if client is None:
        _resolved.pop(key, None)
        return None, None
    scope = scope_for_api_client(client)
    if key is not None:
        if len(_resolved) >= _RESOLVED_MAX:
            _resolved.clear()
        _resolved[key] = (time.monotonic() + ttl, client, scope)
    return client, scope


def api_auth_cache_clear() -> None:
    _resolved.clear()


class ClientToken(HttpBearer):
    """Bearer token of an API client created with `relais create_api_client`."""

    def authenticate(self, request: HttpRequest, token: str):
        client, scope = _resolve_token(token)
        if client is None:
            return None
        return _client_authenticated(request, client, scope)


def client_certificate(request: HttpRequest):
    """Mutual TLS: the API client of the certificate nginx verified (relais.accounts.
    client_cert; headers believed only from RELAIS_TRUSTED_PROXIES)."""
    from relais.accounts.client_cert import api_client_for_certificate

    client = api_client_for_certificate(request)
    if client is None:
        return None
    return _client_authenticated(request, client)


def _client_authenticated(request: HttpRequest, client, scope: Scope | None = None):
    if api_client_throttled(
        client=client, bucket="api", limit_per_minute=settings.RELAIS_API_RATE_LIMIT
    ):
        raise HttpError(429, "Trop de requêtes : réessayez dans une minute.")
    request.api_client = client
    request.relais_scope = scope if scope is not None else scope_for_api_client(client)
    # Partner access: every call leaves a trace (who, what), whatever it reads; written
    # with the call's next audit row (a booking's, in its transaction) or when the call
    # ends (relais.audit.services, "The API call's trace").
    audit_record_deferred(
        api_client=client.name,
        role="api",
        action="api",
        object_type="api.call",
        object_id=f"{request.method} {request.path}"[:64],
    )
    return client


class RelaisSession(SessionAuth):
    """Django session (the Relais web pages), with Ninja's CSRF check on writes."""

    def authenticate(self, request: HttpRequest, key):
        user = super().authenticate(request, key)
        if user is not None:
            request.relais_scope = scope_for(user)
        return user


def api_authentication() -> list:
    """The API's authentications, tried in this order."""
    return [client_certificate, ClientToken(), RelaisSession()]


def scope_of(request: HttpRequest) -> Scope:
    return getattr(request, "relais_scope", Scope())


def require_api(request: HttpRequest, action: str) -> Scope:
    scope = scope_of(request)
    if not scope.can(action):
        raise ApplicationError(
            "Ce jeton ou ce rôle ne permet pas cette action.", code="forbidden"
        ) from None
    return scope
