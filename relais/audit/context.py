"""Who is acting, for the audit trail, when the caller of a service does not say.

Every audit row names its actor (see `relais.audit.services.audit_record`). A service called
from several doors (intake from the UI, the API, FHIR or the web form) does not know its door;
the door does, and makes it known here:

- a web request: `AuditRequestMiddleware` keeps the current request, and the actor is read
  from it when the row is written: the API client authenticated on it (`request.api_client`,
  set by the JSON API and FHIR authentication), else the signed-in user, else the public
  patient routes (`PATIENT_LINK_ROUTES`, `PUBLIC_FORM_ROUTES`), else the niveau-2 offer
  link (`PROFESSIONAL_LINK_ROUTES`, a volunteer who may have no account);
- a background task: the django-tasks `task_started` / `task_finished` signals make the task
  the actor (`system`, "task:<name>") for the time it runs;
- a management command (`relais …`, `manage.py …`) and any other code: `audit_actor(...)`.

Django-free on purpose: `relais/cli.py` imports it before Django is set up.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

# Public routes where the patient acts without an account: the signed follow-up link, and
# the CPTS web form (no link, no account: the patient typing their own request).
from relais.core.cache_control import (
    PATIENT_LINK_ROUTES,
    PROFESSIONAL_LINK_ROUTES,
    PUBLIC_FORM_ROUTES,
)

USER = "user"
API_CLIENT = "api_client"
PATIENT_LINK = "patient_link"
PUBLIC_FORM = "public_form"
PROFESSIONAL_LINK = "professional_link"
SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str = ""  # task or command name, "lien de suivi", "formulaire web"
    user: object = None
    api_client: str = ""


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)
_request: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "audit_request", default=None
)


@contextlib.contextmanager
def audit_actor(*, system: str = "", patient_link: str = "", public_form: str = ""):
    """Name the actor of every audit row written inside the block (a task, a command)."""
    if system:
        actor = Actor(SYSTEM, system[:100])
    elif patient_link:
        actor = Actor(PATIENT_LINK, patient_link[:100])
    elif public_form:
        actor = Actor(PUBLIC_FORM, public_form[:100])
    else:
        raise ValueError("audit_actor() needs system=, patient_link= or public_form=")
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def no_ambient_actor():
    """Inside the block only an explicit or request-derived actor counts (web requests)."""
    token = _actor.set(None)
    try:
        yield
    finally:
        _actor.reset(token)


def start_task_actor(name: str):
    return _actor.set(Actor(SYSTEM, f"task:{name}"[:100]))


def end_task_actor(token) -> None:
    try:
        _actor.reset(token)
    except ValueError:  # reset from another context: nothing to undo there
        _actor.set(None)


def _from_request(request) -> Actor | None:
    client = getattr(request, "api_client", None)
    if client is not None:
        return Actor(API_CLIENT, api_client=str(getattr(client, "name", client))[:100])
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return Actor(USER, user=user)
    match = getattr(request, "resolver_match", None)
    view_name = getattr(match, "view_name", "") or ""
    if view_name in PATIENT_LINK_ROUTES:
        return Actor(PATIENT_LINK, "lien de suivi")
    if view_name in PUBLIC_FORM_ROUTES:
        return Actor(PUBLIC_FORM, "formulaire web")
    if view_name in PROFESSIONAL_LINK_ROUTES:
        return Actor(PROFESSIONAL_LINK, "offre niveau 2")
    return None


def current_actor() -> Actor | None:
    """The actor of the block or task running now, else the one of the current request."""
    actor = _actor.get()
    if actor is not None:
        return actor
    request = _request.get()
    return _from_request(request) if request is not None else None


@dataclass
class InFlight:
    """Deferred rows written in a transaction not yet committed (see DeferredAudit)."""

    rows: list
    callback: object = None


@dataclass
class DeferredAudit:
    """Audit rows of the current request waiting to be written with its next row (the
    API call's trace, relais.audit.services.audit_record_deferred); `in_flight`: written
    in a transaction that has not committed yet."""

    pending: list
    in_flight: list
    flush: object = None  # writes what is left (given by relais.audit.services)


def deferred_audit(*, create=None) -> DeferredAudit | None:
    """The current request's deferred rows (None outside a request, or when it has none
    and no `create`: the flush function of a new DeferredAudit)."""
    request = _request.get()
    if request is None:
        return None
    deferred = getattr(request, "_relais_deferred_audit", None)
    if deferred is None and create is not None:
        deferred = DeferredAudit(pending=[], in_flight=[], flush=create)
        request._relais_deferred_audit = deferred
    return deferred


class AuditRequestMiddleware:
    """Keeps the current request so that audit rows written while serving it name its
    actor; an ambient actor of the thread (a command running the test client…) does not
    leak into the request. At the end, writes the request's deferred rows still unwritten
    (their flush: relais.audit.services.audit_flush_deferred)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            with no_ambient_actor():
                return self.get_response(request)
        finally:
            _request.reset(token)
            deferred = getattr(request, "_relais_deferred_audit", None)
            if deferred is not None:
                deferred.flush(deferred)
