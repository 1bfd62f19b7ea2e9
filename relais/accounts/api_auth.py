"""Who calls the JSON API (/api/v1) and what they may do: the three authentications of the
NinjaAPI (client certificate, bearer token, session) and `require_api`, which every router
calls. Routers import this module, never `relais.api` (which only assembles them); errors
are mapped in `relais.core.api`."""

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from relais.accounts.permissions import Scope, scope_for, scope_for_api_client
from relais.accounts.services import api_client_authenticate, api_client_throttled
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError


class ClientToken(HttpBearer):
    """Bearer token of an API client created with `relais create_api_client`."""

    def authenticate(self, request: HttpRequest, token: str):
        client = api_client_authenticate(token=token)
        if client is None:
            return None
        return _client_authenticated(request, client)


def client_certificate(request: HttpRequest):
    """Mutual TLS: the API client of the certificate nginx verified (relais.accounts.
    client_cert; headers believed only from RELAIS_TRUSTED_PROXIES)."""
    from relais.accounts.client_cert import api_client_for_certificate

    client = api_client_for_certificate(request)
    if client is None:
        return None
    return _client_authenticated(request, client)


def _client_authenticated(request: HttpRequest, client):
    if api_client_throttled(
        client=client, bucket="api", limit_per_minute=settings.RELAIS_API_RATE_LIMIT
    ):
        raise HttpError(429, "Trop de requêtes : réessayez dans une minute.")
    request.api_client = client
    request.relais_scope = scope_for_api_client(client)
    # Partner access: every call leaves a trace (who, what), whatever it reads.
    audit_record(
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
