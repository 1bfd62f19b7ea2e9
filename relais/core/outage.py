"""Database outage: 503 with Retry-After, never a 500.

While PostgreSQL restarts, every query raises OperationalError or InterfaceError. A view's
error reaches `DatabaseOutageMiddleware.process_exception`; an error raised by another
middleware (session, authentication) reaches the 500 handler, `server_error`, which
answers the same when the exception in flight is a database error. Body by path: French
HTML for pages, {"error": {"code": "database_unavailable", …}} under /api/, an
OperationOutcome under /fhir/."""

import logging
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

logger = logging.getLogger(__name__)
DB_ERRORS = (OperationalError, InterfaceError)
MESSAGE = "Service momentanément indisponible (base de données) : réessayez dans quelques secondes."


def outage_response(request) -> HttpResponse:
    retry_after = str(getattr(settings, "RELAIS_OUTAGE_RETRY_AFTER", 5))
    path = request.path
    if path.startswith("/api/"):
        response = JsonResponse(
            {"error": {"code": "database_unavailable", "message": MESSAGE}}, status=503
        )
    elif path.startswith("/fhir/"):
        response = JsonResponse(
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "transient", "diagnostics": MESSAGE}],
            },
            status=503,
            content_type="application/fhir+json",
            json_dumps_params={"ensure_ascii": False},
        )
    else:
        # No template: rendering one may need the database (context processors).
        response = HttpResponse(
            '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
            "<title>Service indisponible · Relais</title></head><body><main>"
            f"<h1>Service momentanément indisponible</h1><p>{MESSAGE}</p>"
            "<p>Vos saisies validées sont enregistrées ; rechargez la page dans un instant."
            "</p></main></body></html>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = retry_after
    response["Cache-Control"] = "no-store"
    return response


class DatabaseOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DB_ERRORS):
            logger.warning("database unavailable: %s", exception.__class__.__name__)
            return outage_response(request)
        return None


def server_error(request, *args, **kwargs):
    """handler500: 503 when the exception being handled is a database error."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DB_ERRORS):
        return outage_response(request)
    return django_server_error(request, *args, **kwargs)
