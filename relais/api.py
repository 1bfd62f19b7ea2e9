"""The JSON API at /api/v1/: one NinjaAPI, routers from each app, errors mapped here."""

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
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


api = NinjaAPI(
    title="Relais API",
    version="1",
    description=(
        "API JSON de Relais : demandes de soins non programmés, recherche de créneaux, "
        "rendez-vous. Authentification par jeton (`Authorization: Bearer rls_…`, créé avec "
        "`relais create_api_client`) ou par session. Erreurs : "
        '`{"error": {"code": …, "message": …}}`.'
    ),
    urls_namespace="api",
    auth=[client_certificate, ClientToken(), RelaisSession()],
    docs_url="/docs",
)


def scope_of(request: HttpRequest) -> Scope:
    return getattr(request, "relais_scope", Scope())


def require_api(request: HttpRequest, action: str) -> Scope:
    scope = scope_of(request)
    if not scope.can(action):
        raise ApplicationError(
            "Ce jeton ou ce rôle ne permet pas cette action.", code="forbidden"
        ) from None
    return scope


def error_response(request, status: int, code: str, message: str, **extra):
    """Every API error has this body: {"error": {"code": …, "message": …, …}}."""
    return api.create_response(
        request, {"error": {"code": code, "message": message, **extra}}, status=status
    )


@api.exception_handler(ApplicationError)
def application_error(request, exc: ApplicationError):
    status = 403 if exc.code == "forbidden" else exc.http_status
    extra = dict(exc.extra)
    alternatives = getattr(exc, "alternatives", None)
    if alternatives is not None:
        from relais.orientation.schemas import ranked_slot_out

        extra["alternatives"] = [ranked_slot_out(r) for r in alternatives]
    return error_response(request, status, exc.code, exc.message, **extra)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    return error_response(
        request, 422, "validation_error", "Données invalides.", details=exc.errors
    )


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return error_response(
        request, 401, "unauthorized", "Authentification requise (jeton ou session)."
    )


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    code = "throttled" if exc.status_code == 429 else "http_error"
    return error_response(request, exc.status_code, code, str(exc))


@api.get("/health", auth=None, tags=["système"], summary="État du service")
def health(request):
    return {"status": "ok"}


def _register_routers():
    from relais.indicators.api import router as indicators_router
    from relais.orientation.api import router as orientation_router
    from relais.regulation.api import motifs_router
    from relais.regulation.api import router as regulation_router
    from relais.territory.api import router as territory_router

    api.add_router("/communes", territory_router)
    api.add_router("/requests", regulation_router)
    api.add_router("/motifs", motifs_router)
    api.add_router("/indicators", indicators_router)
    api.add_router("/", orientation_router)


_register_routers()
