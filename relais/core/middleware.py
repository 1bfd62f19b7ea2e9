"""Security middleware: Content-Security-Policy, inactivity timeout, second factor gate."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

LAST_SEEN = "relais_last_seen"


class ContentSecurityPolicyMiddleware:
    """One strict policy for every response (the templates use no inline script)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "RELAIS_CSP", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class SessionIdleTimeoutMiddleware:
    """Log out a session left idle for RELAIS_SESSION_IDLE_MINUTES (0: never)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        minutes = getattr(settings, "RELAIS_SESSION_IDLE_MINUTES", 0)
        user = getattr(request, "user", None)
        if minutes and user is not None and user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_SEEN)
            if last is not None and now - last > minutes * 60:
                logout(request)
                if request.path.startswith("/api/"):
                    return JsonResponse(
                        {"error": {"code": "unauthorized", "message": "Session expirée."}},
                        status=401,
                    )
                messages.info(
                    request,
                    f"Session fermée après {minutes} minutes d'inactivité : reconnectez-vous.",
                )
                return redirect(f"{reverse(settings.LOGIN_URL)}?next={request.path}")
            if last is None or now - last >= 30:  # one session write per 30 s at most
                request.session[LAST_SEEN] = now
        return self.get_response(request)


class TwoFactorMiddleware:
    """A signed-in user who must use a second factor reaches nothing else before it."""

    OPEN_PREFIXES = ("/static/", "/connexion/", "/deconnexion/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from relais.accounts.services import two_factor_required_for
        from relais.accounts.views import SESSION_2FA

        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.session.get(SESSION_2FA)
            and not request.path.startswith(self.OPEN_PREFIXES)
            and two_factor_required_for(user)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"code": "unauthorized", "message": "Second facteur requis."}},
                    status=401,
                )
            return redirect("accounts:two_factor")
        return self.get_response(request)


NUL_MESSAGE = "Caractère nul (0x00) interdit dans les paramètres de la requête."


class RejectNulBytesMiddleware:
    """400 for a NUL character in the query string or a JSON/form body, before any view.

    PostgreSQL text cannot hold NUL: such a value used to reach the database and fail
    with a 500. Uploaded files (multipart) are left alone: they are binary by nature."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "%00" in request.META.get("QUERY_STRING", "") or "\x00" in request.path:
            return True
        if request.method not in {"POST", "PUT", "PATCH"}:
            return False
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            return b"%00" in request.body or b"\x00" in request.body
        if content_type.startswith(("application/json", "application/fhir+json")):
            return b"\\u0000" in request.body or b"\x00" in request.body
        return False

    @staticmethod
    def _refuse(request):
        from django.http import HttpResponseBadRequest

        if request.path.startswith("/api/"):
            from relais.api import error_response

            return error_response(request, 400, "invalid_input", NUL_MESSAGE)
        if request.path.startswith("/fhir/"):
            from relais.interop.views import fhir_error

            return fhir_error(400, NUL_MESSAGE)
        return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
