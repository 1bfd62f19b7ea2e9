"""The JSON API's error mapping, in one place: every error under /api/ has the body
{"error": {"code": …, "message": …, …}}. Imports no app: `relais.api` installs these
handlers on the NinjaAPI it assembles, the core middleware answers its own refusals with
`error_response`, and an error that carries more than `extra` says so itself
(`ApplicationError.api_extra`, e.g. orientation's alternatives)."""

from django.http import HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer

from relais.core.errors import ApplicationError

_renderer = JSONRenderer()


def error_response(request: HttpRequest, status: int, code: str, message: str, **extra):
    """Every API error has this body: {"error": {"code": …, "message": …, …}}."""
    body = {"error": {"code": code, "message": message, **extra}}
    return HttpResponse(
        _renderer.render(request, body, response_status=status),
        status=status,
        content_type=f"{_renderer.media_type}; charset={_renderer.charset}",
    )


def application_error(request, exc: ApplicationError):
    status = 403 if exc.code == "forbidden" else exc.http_status
    return error_response(request, status, exc.code, exc.message, **exc.api_extra())


def validation_error(request, exc: ValidationError):
    return error_response(
        request, 422, "validation_error", "Données invalides.", details=exc.errors
    )


def authentication_error(request, exc):
    return error_response(
        request, 401, "unauthorized", "Authentification requise (jeton ou session)."
    )


def http_error(request, exc: HttpError):
    code = "throttled" if exc.status_code == 429 else "http_error"
    return error_response(request, exc.status_code, code, str(exc))


def install_error_handlers(api) -> None:
    """Map the domain error and Ninja's own errors to the one error body."""
    api.add_exception_handler(ApplicationError, application_error)
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(AuthenticationError, authentication_error)
    api.add_exception_handler(HttpError, http_error)
