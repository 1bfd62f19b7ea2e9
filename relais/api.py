"""The JSON API at /api/v1/: one NinjaAPI assembled from each app's router. Who may call
it lives in relais.accounts.api_auth (which the routers import), how errors look in
relais.core.api; this module only puts them together."""

from ninja import NinjaAPI

from relais.accounts.api_auth import api_authentication
from relais.core.api import install_error_handlers
from relais.indicators.api import router as indicators_router
from relais.orientation.api import router as orientation_router
from relais.regulation.api import motifs_router
from relais.regulation.api import router as regulation_router
from relais.territory.api import router as territory_router

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
    auth=api_authentication(),
    docs_url="/docs",
)
install_error_handlers(api)


@api.get("/health", auth=None, tags=["système"], summary="État du service")
def health(request):
    return {"status": "ok"}


api.add_router("/communes", territory_router)
api.add_router("/requests", regulation_router)
api.add_router("/motifs", motifs_router)
api.add_router("/indicators", indicators_router)
api.add_router("/", orientation_router)
