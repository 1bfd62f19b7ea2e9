"""The FHIR endpoints at /fhir/ (thin: parsing in selectors, writes in services) and the
two interop pages (slot deep link, failed SAS reports)."""

import json
import logging
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from relais.accounts.client_cert import request_api_client
from relais.accounts.permissions import require, scope_for, scope_for_api_client
from relais.agenda.models import Slot
from relais.audit.services import audit_record
from relais.core.db_routing import lag_tolerant
from relais.core.errors import ApplicationError
from relais.interop import resources as r
from relais.interop import selectors, services, slot_bundle
from relais.interop.models import ReportStatus, SasReport

logger = logging.getLogger(__name__)
# Calls per API client per minute: RELAIS_FHIR_RATE_LIMIT (settings, from the environment).
RATE_LIMIT_PER_MINUTE = settings.RELAIS_FHIR_RATE_LIMIT
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    422: "business-rule",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
    500: "exception",
}


def fhir_response(body: dict, status: int = 200, **headers) -> HttpResponse:
    response = JsonResponse(
        body,
        status=status,
        content_type=r.FHIR_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def fhir_error(status: int, message: str, **headers) -> HttpResponse:
    return fhir_response(
        r.operation_outcome(message, code=ISSUE_CODES.get(status, "processing")), status, **headers
    )


# Accept values of the IG (and the generic ones); XML is not served (406).
JSON_TYPES = ("application/fhir+json", "application/json+fhir", "application/json")


def _not_acceptable(request) -> HttpResponse | None:
    """406 when the client accepts only what we do not produce (XML, Turtle…)."""
    fmt = request.GET.get("_format", "").lower()
    if fmt and fmt not in ("json", *JSON_TYPES):
        return fhir_error(406, "Seul le format JSON est servi (application/fhir+json).")
    accept = request.headers.get("Accept", "").lower()
    if not accept.strip():
        return None
    ranges = [part.split(";")[0].strip() for part in accept.split(",")]
    if any(r in ("*/*", "application/*", *JSON_TYPES) for r in ranges):
        return None
    return fhir_error(406, "Seul le format JSON est servi (application/fhir+json).")


def _unsupported_media(request) -> HttpResponse | None:
    """415 for a POST/PUT body that is not FHIR JSON."""
    if request.method not in ("POST", "PUT"):
        return None
    ctype = request.content_type.lower() if request.content_type else ""
    if ctype in JSON_TYPES:
        return None
    return fhir_error(415, "Corps attendu en application/fhir+json.")


def _status_for(exc: ApplicationError) -> int:
    if exc.code == "forbidden":
        return 403
    if type(exc) is ApplicationError:  # a business rule refused a well-formed request
        return 422
    return exc.http_status


def _rate_limited(client) -> int:
    """Seconds until the client may call again (0: allowed). At most
    RATE_LIMIT_PER_MINUTE calls per client and minute, counted in the shared cache
    (relais.core.ratelimit: with CACHE_URL every gunicorn worker counts in the same
    window; a fixed window aligned on the minute)."""
    from relais.core import ratelimit

    decision = ratelimit.hit(
        "fhir", str(client.public_id), (ratelimit.Limit(RATE_LIMIT_PER_MINUTE, 60),)
    )
    return decision.retry_after


def fhir_endpoint(actions: dict[str, str]):
    """Bearer auth (API clients), per-client rate limit, method -> POLICY action, one
    audit row per call, and every error as an OperationOutcome."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            action = actions.get(request.method)
            if action is None:
                return fhir_error(405, "Méthode non prise en charge.", Allow=", ".join(actions))
            refused = _not_acceptable(request) or _unsupported_media(request)
            if refused is not None:
                return refused
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            client = request_api_client(request, token=token)  # mTLS certificate, else token
            if client is None:
                return fhir_error(
                    401,
                    "Authentification requise (certificat client enregistré ou jeton porteur).",
                    WWW_Authenticate="Bearer",
                )
            retry_after = _rate_limited(client)
            if retry_after:
                response = fhir_error(
                    429,
                    f"Trop de requêtes : réessayez dans {retry_after} s.",
                    Retry_After=str(retry_after),
                )
            else:
                scope = scope_for_api_client(client)
                request.api_client, request.relais_scope = client, scope
                if not scope.can(action):
                    response = fhir_error(403, "Ce jeton ne permet pas cette action.")
                else:
                    try:
                        response = view(request, *args, **kwargs)
                    except ApplicationError as exc:
                        response = fhir_error(_status_for(exc), exc.message)
                    except Exception:
                        logger.exception("FHIR %s %s failed", request.method, request.path)
                        response = fhir_error(500, "Erreur interne : l'incident est journalisé.")
            audit_record(
                api_client=client.name,
                action={"GET": "read", "POST": "create", "PUT": "update", "DELETE": "delete"}[
                    request.method
                ],
                object_type=f"fhir.{request.path.rstrip('/').rsplit('/', 1)[-1]}"[:50],
                object_id=getattr(response, "audit_object_id", "")[:64],
                reason=f"{response.status_code} {request.method} {request.get_full_path()}",
            )
            return response

        wrapped.fhir_actions = dict(actions)  # read by the CapabilityStatement's test
        return wrapped

    return decorator


class BodyTooLarge(ApplicationError):
    code = "body_too_large"
    http_status = 413


def _json_body(request) -> dict:
    from django.core.exceptions import RequestDataTooBig

    try:
        raw = request.body
    except RequestDataTooBig:
        raise BodyTooLarge("Corps trop volumineux.") from None
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):  # invalid JSON or UTF-8, or nested too deep
        raise selectors.BadParameter("Corps JSON invalide.") from None
    if not isinstance(body, dict):
        raise selectors.BadParameter("Le corps doit être une ressource FHIR (objet JSON).")
    return body


@csrf_exempt
def metadata(request):
    if request.method != "GET":
        return fhir_error(405, "Méthode non prise en charge.", Allow="GET")
    return _not_acceptable(request) or fhir_response(r.capability_statement())


@csrf_exempt
def not_found(request, rest=""):
    """Any other address under /fhir/: an OperationOutcome 404, never an HTML page."""
    return _not_acceptable(request) or fhir_error(
        404, "Ressource ou opération inconnue de ce serveur FHIR (voir /fhir/metadata)."
    )


def _strict(request) -> bool:
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    return "handling=strict" in prefer.split(";") or "handling=strict" in prefer.split(",")


@fhir_endpoint({"GET": "fhir.slots.read"})
def slot_read(request, resource_id):
    slot = selectors.fhir_slot_get(resource_id=resource_id, scope=request.relais_scope)
    if slot is None:
        return fhir_error(404, "Créneau introuvable.")
    types = r.slot_types(slot, cpts=bool(slot.professional.cpts_ids()))
    return fhir_response(r.slot_resource(slot, types=types))


@fhir_endpoint({"GET": "fhir.slots.read"})
def schedule_read(request, resource_id):
    slot = selectors.fhir_schedule_get(resource_id=resource_id, scope=request.relais_scope)
    if slot is None:
        return fhir_error(404, "Agenda introuvable.")
    return fhir_response(r.schedule_resource(slot))


@fhir_endpoint({"GET": "fhir.slots.read"})
def practitioner_read(request, resource_id):
    pro = selectors.fhir_practitioner_get(resource_id=resource_id, scope=request.relais_scope)
    if pro is None:
        return fhir_error(404, "Professionnel introuvable.")
    return fhir_response(r.practitioner_resource(pro))


@fhir_endpoint({"GET": "fhir.appointments.read"})
def appointment_read(request, resource_id):
    owner = services.client_owner(request.api_client)
    public_id = _uuid_or_none(resource_id)
    booking = (
        selectors.fhir_bookings_of_client(owner=owner).filter(public_id=public_id).first()
        if public_id
        else None
    )
    if booking is None:
        return fhir_error(404, "Rendez-vous introuvable.")
    response = fhir_response(r.appointment_resource(booking, identifier=_identifier_of(booking)))
    response.audit_object_id = str(booking.public_id)
    return response


@fhir_endpoint({"GET": "fhir.slots.read"})
def slot_search(request):
    """INT_R01 / INT_R04: the lean searchset (relais.interop.slot_bundle), serialised once."""
    query = selectors.parse_slot_query(request.GET, strict=_strict(request))
    # A lag-tolerant read (the replica when one is configured and fresh: docs/operations.md).
    bundle, total = lag_tolerant()(slot_bundle.slot_search)(
        query=query, scope=request.relais_scope, self_url=request.build_absolute_uri()
    )
    response = HttpResponse(slot_bundle.dumps(bundle), content_type=r.FHIR_CONTENT_TYPE)
    response.audit_object_id = f"{len(query.rpps)} RPPS, {total} slots"
    return response


@fhir_endpoint(
    {
        "GET": "fhir.appointments.read",
        "POST": "fhir.appointments.write",
        "PUT": "fhir.appointments.write",
    }
)
def appointment(request):
    client = request.api_client
    owner = services.client_owner(client)
    if request.method == "POST":
        if request.GET:
            raise selectors.BadParameter("POST Appointment ne prend pas de paramètres.")
        booking, created = services.appointment_book(
            client=client, scope=request.relais_scope, payload=_json_body(request)
        )
        ident = _identifier_of(booking)
        response = fhir_response(
            r.appointment_resource(booking, identifier=ident),
            201 if created else 200,
            Location=f"{r.base_url()}/Appointment/{booking.public_id}",
        )
        response.audit_object_id = str(booking.public_id)
        return response
    # `?Identifier=` too: one page of the IG spells the conditional update that way.
    identifiers = request.GET.getlist("identifier") + request.GET.getlist("Identifier")
    unknown = set(request.GET) - {"identifier", "Identifier", "_count", "_format"}
    if unknown and (_strict(request) or request.method == "PUT"):
        raise selectors.BadParameter(
            f"Paramètre(s) non pris en charge : {', '.join(sorted(unknown))}."
        )
    if request.method == "PUT":
        if len(identifiers) != 1:
            raise selectors.BadParameter("PUT Appointment attend un seul paramètre identifier.")
        booking = _booking_by_identifier(owner, identifiers[0])
        booking = services.appointment_set_status(
            booking=booking,
            payload=_json_body(request),
            scope=request.relais_scope,
            client_name=client.name,
        )
        response = fhir_response(
            r.appointment_resource(booking, identifier=_identifier_of(booking))
        )
        response.audit_object_id = str(booking.public_id)
        return response
    # GET: the client's own appointments, optionally by identifier.
    if identifiers:
        bookings = [_booking_by_identifier(owner, i, missing_ok=True) for i in identifiers]
        bookings = [b for b in bookings if b is not None]
    else:
        bookings = list(selectors.fhir_bookings_of_client(owner=owner)[:100])
    entries = [(r.appointment_resource(b, identifier=_identifier_of(b)), "match") for b in bookings]
    return fhir_response(
        r.bundle_searchset(entries, self_url=request.build_absolute_uri(), total=len(entries))
    )


def _identifier_of(booking) -> dict | None:
    """The caller's identifier is not stored in clear when long; echo it when we can."""
    key = booking.idempotency_key or ""
    if key.startswith("fhir:") and not key.startswith("fhir:sha256:"):
        system, _, value = key[5:].rpartition("|")
        return {"system": system, "value": value} if system else {"value": value}
    return None


def _booking_by_identifier(owner: str, raw: str, *, missing_ok: bool = False):
    system, value = services.parse_identifier_param(raw)
    if system in (r.SYSTEM_RELAIS_BOOKING, r.identifier_system()):
        qs = selectors.fhir_bookings_of_client(owner=owner).filter(public_id=_uuid_or_none(value))
    else:
        qs = selectors.fhir_bookings_of_client(
            owner=owner, key=services.identifier_key(system, value)
        )
    booking = qs.first()
    if booking is None and not missing_ok:
        raise services.NotFound("Rendez-vous introuvable pour cet identifiant.")
    return booking


def _uuid_or_none(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# --- SMART Scheduling Links (public, like any published slot feed) -----------------


def _bulk_throttled(request):
    """Per client address (relais.core.ratelimit, shared cache): an OperationOutcome 429
    with Retry-After over RELAIS_BULK_RATE_LIMIT calls a minute, else None."""
    from relais.core import ratelimit

    decision = ratelimit.hit(
        "fhir-bulk",
        ratelimit.client_ip(request),
        (ratelimit.Limit(settings.RELAIS_BULK_RATE_LIMIT, 60),),
    )
    if decision.allowed:
        return None
    return fhir_error(
        429, "Trop de requêtes : réessayez plus tard.", Retry_After=str(decision.retry_after)
    )


def _bulk_not_ready():
    return fhir_error(503, "Fichiers en cours de génération : réessayez.", Retry_After="30")


def bulk_publish(request):
    from relais.interop.smart import KINDS, bulk_manifest_or_generate

    if request.method != "GET":
        return fhir_error(405, "Méthode non prise en charge.", Allow="GET")
    throttled = _bulk_throttled(request)
    if throttled is not None:
        return throttled
    generated = bulk_manifest_or_generate()
    if generated is None:
        return _bulk_not_ready()
    base = r.base_url()
    manifest = {
        # The files' generation time, not the time of this call.
        "transactionTime": r.iso(datetime.fromisoformat(generated["transactionTime"])),
        "request": f"{base}/$bulk-publish",
        "output": [
            {
                "type": kind,
                "url": f"{base}/bulk/{kind}.ndjson",
                # SMART: the states or jurisdictions (here régions) the output covers.
                "extension": {"state": generated.get("states") or []},
            }
            for kind in KINDS
        ],
        "error": [],
    }
    response = JsonResponse(manifest, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = f"public, max-age={settings.RELAIS_BULK_MAX_AGE}"
    return response


def bulk_file(request, kind: str):
    """A file written by `relais publish_bulk`, served as a static file: ETag,
    Last-Modified, Cache-Control, 304 on a matching conditional GET."""
    from django.http import FileResponse, HttpResponseNotModified
    from django.utils.http import http_date, parse_http_date_safe

    from relais.interop.smart import KINDS, bulk_dir, bulk_manifest_or_generate

    if kind not in KINDS:
        return fhir_error(404, "Fichier inconnu.")
    if request.method not in ("GET", "HEAD"):
        return fhir_error(405, "Méthode non prise en charge.", Allow="GET, HEAD")
    throttled = _bulk_throttled(request)
    if throttled is not None:
        return throttled
    manifest = bulk_manifest_or_generate()
    if manifest is None:
        return _bulk_not_ready()
    etag = manifest["files"][kind]["etag"]
    generated = datetime.fromisoformat(manifest["transactionTime"])
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(generated.timestamp()),
        "Cache-Control": f"public, max-age={settings.RELAIS_BULK_MAX_AGE}",
    }
    if_none_match = request.headers.get("If-None-Match")
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    if (if_none_match and etag in [t.strip() for t in if_none_match.split(",")]) or (
        not if_none_match and since is not None and int(generated.timestamp()) <= since
    ):
        response = HttpResponseNotModified()
    else:
        try:
            handle = open(bulk_dir() / f"{kind}.ndjson", "rb")  # noqa: SIM115 (FileResponse closes it)
        except FileNotFoundError:
            return _bulk_not_ready()
        response = FileResponse(handle, content_type="application/fhir+ndjson")
    for key, value in headers.items():
        response[key] = value
    return response


# --- Pages -----------------------------------------------------------------------


@require("booking.create")
def slot_open(request, public_id):
    """The deep link of Slot.comment: the slot as an operator sees it in Relais."""
    scope = scope_for(request.user)
    slot = (
        Slot.objects.select_related("professional", "practice__commune__departement")
        .filter(
            public_id=public_id, practice__commune__departement__code__in=scope.departement_codes
        )
        .first()
    )
    if slot is None:
        raise Http404("Créneau introuvable.")
    audit_record(
        user=request.user, action="read", obj=slot, reason=request.GET.get("origin", "")[:50]
    )
    return render(
        request, "interop/slot.html", {"slot": slot, "origin": request.GET.get("origin", "")}
    )


@require("interop.reports")
def sas_reports(request):
    scope = scope_for(request.user)
    reports = (
        SasReport.objects.exclude(status=ReportStatus.SENT)
        .filter(booking__request__sas_id__in=scope.sas_ids)
        .select_related("booking__slot__professional")
        .order_by("status", "-created_at")[:200]
    )
    return render(
        request,
        "interop/sas_reports.html",
        {"reports": reports, "configured": bool(settings.RELAIS_SAS_FHIR_URL)},
    )


@require_POST
@require("interop.reports")
def sas_report_retry(request, pk):
    scope = scope_for(request.user)
    report = get_object_or_404(SasReport, pk=pk, booking__request__sas_id__in=scope.sas_ids)
    try:
        services.sas_report_retry(report=report)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Compte rendu remis en file d'envoi.")
    return redirect("interop:sas_reports")
