"""Generic security middleware: Content-Security-Policy, inactivity timeout, NUL bytes, input
limits of the machine doors. Imports no app (the second-factor gate is accounts'
relais.accounts.middleware; FHIR's error body is registered by interop)."""

import re
import time
from itertools import accumulate

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


NUL_MESSAGE = "Caractère nul (0x00) interdit dans les paramètres de la requête."
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class RejectNulBytesMiddleware:
    """400 for a NUL character anywhere in a request's text, before any view.

    PostgreSQL text cannot hold NUL: such a value used to reach the database and fail
    with a 500. Checked: the path and query string, and the body whatever its declared
    content type (a JSON body sent as text/plain used to slip through); for multipart,
    the text fields only (uploaded files are binary by nature)."""

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
        if request.method in {"GET", "HEAD", "OPTIONS"}:
            return False
        content_type = request.META.get("CONTENT_TYPE", "").lower()
        if content_type.startswith("multipart/"):
            return any(
                "\x00" in key or any("\x00" in value for value in values)
                for key, values in request.POST.lists()
            )
        body = request.body
        if b"\x00" in body:
            return True
        if content_type.startswith(FORM_CONTENT_TYPE):
            return b"%00" in body
        return b"\\u0000" in body  # a JSON escape, whatever the declared type

    @staticmethod
    def _refuse(request):
        return refuse(request, 400, "invalid_input", NUL_MESSAGE)


# Error bodies of the doors that own their format (an OperationOutcome under /fhir/), by
# path prefix: registered by the app that owns the door (InteropConfig.ready), so core
# imports no app.
_DOOR_ERRORS: dict = {}


def register_door_error(prefix: str, render) -> None:
    """`render(status, message) -> HttpResponse` answers refusals under `prefix`."""
    _DOOR_ERRORS[prefix] = render


def refuse(request, status: int, code: str, message: str):
    """An error in the form of the door that was called: structured JSON for /api/,
    OperationOutcome for /fhir/, French text elsewhere."""
    from django.http import HttpResponse

    if request.path.startswith("/api/"):
        from relais.core.api import error_response

        return error_response(request, status, code, message)
    for prefix, render in _DOOR_ERRORS.items():
        if request.path.startswith(prefix):
            return render(status, message)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


# --- input limits for the machine doors (/api/, /fhir/) ---------------------------------------

FHIR_WRITE_TYPES = ("application/fhir+json", "application/json")
FHIR_ACCEPTED = ("application/fhir+json", "application/json", "application/json+fhir")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects in a JSON text, without parsing it (brackets
    inside strings ignored). Linear and iteration-free but for the brackets themselves."""
    if b"[" not in body and b"{" not in body:
        return 0
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", body)).translate(None, _NOT_BRACKET)
    steps = (1 if c in b"[{" else -1 for c in brackets)
    return max(accumulate(steps, initial=0))


# FHIR routes that take no write at all: their view answers 405 to a POST/PUT, whatever
# its content type (every other FHIR route gets the 415 check on writes).
FHIR_READ_ONLY_PATHS = ("/fhir/Slot", "/fhir/metadata", "/fhir/$bulk-publish", "/fhir/bulk/")


class InputLimitsMiddleware:
    """Refuses, before any parsing, what used to crash the JSON API and FHIR with a 500:
    a body over RELAIS_MAX_BODY_BYTES (413), JSON nested deeper than RELAIS_MAX_JSON_DEPTH
    (400, json.loads ran into RecursionError), and for /fhir/ a write whose content type
    is not FHIR JSON (415) or an Accept header it cannot serve (406)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        if path.startswith(("/api/", "/fhir/")):
            refused = self._check(request, path.startswith("/fhir/"))
            if refused is not None:
                return refused
        return self.get_response(request)

    def _check(self, request, fhir: bool):
        from django.core.exceptions import RequestDataTooBig

        limit = getattr(settings, "RELAIS_MAX_BODY_BYTES", 1024 * 1024)
        depth_limit = getattr(settings, "RELAIS_MAX_JSON_DEPTH", 32)
        if fhir and not self._fhir_accepts(request):
            return refuse(
                request,
                406,
                "not_acceptable",
                "Format de réponse non pris en charge : application/fhir+json ou application/json.",
            )
        if request.method in {"GET", "HEAD", "OPTIONS", "DELETE"} and not request.META.get(
            "CONTENT_LENGTH"
        ):
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refuse(request, 400, "invalid_input", "En-tête Content-Length invalide.")
        too_big = f"Corps de requête trop volumineux ({limit // 1024} Kio au plus)."
        if length > limit:
            return refuse(request, 413, "payload_too_large", too_big)
        content_type = request.META.get("CONTENT_TYPE", "").lower()
        if (
            fhir
            and length
            and request.method in {"POST", "PUT", "PATCH"}
            and not request.path.startswith(FHIR_READ_ONLY_PATHS)
        ):
            main = content_type.split(";", 1)[0].strip()
            if main not in FHIR_WRITE_TYPES:
                return refuse(
                    request,
                    415,
                    "unsupported_media_type",
                    "Type de contenu non pris en charge : envoyez application/fhir+json.",
                )
        if content_type.startswith("multipart/"):
            return None
        try:
            body = request.body
        except RequestDataTooBig:
            return refuse(request, 413, "payload_too_large", too_big)
        if len(body) > limit:
            return refuse(request, 413, "payload_too_large", too_big)
        if json_depth(body) > depth_limit:
            return refuse(
                request,
                400,
                "invalid_input",
                f"JSON trop imbriqué ({depth_limit} niveaux au plus).",
            )
        return None

    @staticmethod
    def _fhir_accepts(request) -> bool:
        accept = request.META.get("HTTP_ACCEPT", "").lower()
        if not accept.strip() or "ndjson" in request.path:
            return True
        for part in accept.split(","):
            media = part.split(";", 1)[0].strip()
            if media in ("*/*", "application/*", *FHIR_ACCEPTED):
                return True
        return False
