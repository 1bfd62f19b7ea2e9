"""The route × role matrix: every URL of the resolver and every JSON API operation, called
by every persona of the cast, must answer as the ONE table below says.

A route that is not in the table fails `test_it_has_an_access_rule_for_every_route`
("new route without access rules"): adding an endpoint means deciding who may call it.

Outcomes:
- allowed: 2xx or 3xx (but never a redirect to the login page), unless the entry lists
  other acceptable answers (`ok`, e.g. a FHIR write with an empty body answers 400 once
  the permission gate is passed);
- refused: a page redirects anonymous callers (and bearer tokens, which pages ignore) to
  the login page; the API and FHIR answer 401 to callers without credentials; any
  other refusal is 403 (role) or 404 (object outside the caller's territory).
Every persona's call runs in its own savepoint, rolled back afterwards, so a write by one
persona (a booking, a cancellation) never changes what the next one sees.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from relais.accounts.models import ApiClient, Role
from relais.accounts.services import API_SCOPES, api_client_create
from relais.agenda.services import calendar_feed_renew, exception_create, rule_create
from relais.api import api
from relais.directory.models import Delegation
from relais.interop.models import SasReport
from relais.orientation.models import Level2Call, Level2Offer
from relais.orientation.services import booking_create, slot_hold
from relais.orientation.tokens import offer_token
from relais.regulation.tokens import follow_token
from tests import factories as f
from tests.agenda.helpers import rule_input

pytestmark = pytest.mark.django_db

# --- the personas --------------------------------------------------------------------------

OP91 = "operateur_sas91"  # olivia
REG = "regulateur_sas91"  # regis
ARM = "arm_sas91"
EFF = "effecteur_cpts_a"  # dr Alice
DEL = "delegataire_de_alice"
COORD_B = "coordinateur_cpts_b"  # coralie
OP43 = "operateur_sas43"  # oscar
ADMIN = "admin_sas91"
NOROLE = "sans_role"  # nobody
ANON = "anonyme"
TOK91 = "jeton_toutes_portees_sas91"
TOK43 = "jeton_toutes_portees_sas43"
TOK0 = "jeton_sans_portee"

USERS = (OP91, REG, ARM, EFF, DEL, COORD_B, OP43, ADMIN, NOROLE)
TOKENS = (TOK91, TOK43, TOK0)
PERSONAS = (*USERS, ANON, *TOKENS)
EVERYONE = frozenset(PERSONAS)
LOGGED_IN = frozenset(USERS)

# --- the cast: objects of SAS 91 / CPTS A the URLs point to ----------------------------------


@pytest.fixture
def cast(olivia, regis, dr_alice, coralie, oscar, nobody, sas91, sas43, cpts_a):
    now = timezone.now()
    arm = f.member(f.UserFactory(username="arnaud"), Role.ARM, sas_obj=sas91)
    admin = f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)
    delia = f.member(f.UserFactory(username="delia"), Role.DELEGATAIRE, sas_obj=sas91)
    Delegation.objects.create(professional=dr_alice, delegate=delia)
    dr_bob = f.ProfessionalFactory(accepts_surnumeraire=True, cpts=cpts_a, practice_in="91174")

    request = f.RequestFactory()  # SAS 91, CPTS A (Évry)
    free_slot = f.SlotFactory(professional=dr_alice, start=now + timedelta(hours=3))
    held_slot = f.SlotFactory(professional=dr_alice, start=now + timedelta(hours=4))
    slot_hold(slot=held_slot, user=olivia, request=request)
    booked_request = f.RequestFactory()
    booking = booking_create(
        request=booked_request,
        slot=f.SlotFactory(professional=dr_alice, start=now + timedelta(hours=5)),
    )
    l2_request = f.RequestFactory()
    call = Level2Call.objects.create(
        request=l2_request, radius_km=12, widen_at=now + timedelta(minutes=20),
        deadline=now + timedelta(hours=2),
    )  # fmt: skip
    offer = Level2Offer.objects.create(call=call, professional=dr_bob)
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice))
    absence = exception_create(
        professional=dr_alice, start=now + timedelta(days=20), end=now + timedelta(days=21)
    )
    # Partner sources of SAS 91 and SAS 43 and a public slot (tests/security/partner_cases.py).
    from relais.interop.models import PartnerSource

    partner_source = PartnerSource.objects.create(
        name="agenda-91", base_url="http://127.0.0.1:9/fhir", sas=sas91
    )
    partner_source43 = PartnerSource.objects.create(
        name="agenda-43", base_url="http://127.0.0.1:9/fhir", sas=sas43
    )
    public_slot = f.SlotFactory(
        professional=dr_alice, start=now + timedelta(hours=6), for_public=True
    )
    report = SasReport.objects.create(
        booking=booking, method="POST", appointment_status="booked", payload={}, status="failed"
    )
    _, tok91 = api_client_create(name="partenaire-91", scopes=list(API_SCOPES))
    ApiClient.objects.get(name="partenaire-91").sas_scope.add(sas91)
    _, tok43 = api_client_create(name="partenaire-43", scopes=list(API_SCOPES))
    ApiClient.objects.get(name="partenaire-43").sas_scope.add(sas43)
    _, tok0 = api_client_create(name="sans-portee", scopes=["motifs:read"])
    ApiClient.objects.filter(name="sans-portee").update(scopes=[])
    return SimpleNamespace(
        users={
            OP91: olivia,
            REG: regis,
            ARM: arm,
            EFF: dr_alice.user,
            DEL: delia,
            COORD_B: coralie,
            OP43: oscar,
            ADMIN: admin,
            NOROLE: nobody,
        },
        tokens={TOK91: tok91, TOK43: tok43, TOK0: tok0},
        pro=dr_alice,
        surnumeraire_pro=dr_bob,
        request=request,
        free_slot=free_slot,
        held_slot=held_slot,
        booking=booking,
        offer_token=offer_token(offer),
        rule=rule,
        absence=absence,
        feed_token=calendar_feed_renew(professional=dr_alice),
        partner_source=partner_source,
        partner_source43=partner_source43,
        public_slot=public_slot,
        report=report,
        now=now,
    )


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    allow: frozenset
    url: Callable  # cast -> URL
    data: Callable | None = None  # cast -> form data (pages) or JSON body (API/FHIR)
    kind: str = "page"  # page / api / fhir
    ok: frozenset = field(default_factory=lambda: frozenset({"allow"}))
    note: str = ""


def page(name, allow, *args, query=None, **kw):
    """A page by URL name; `args` are callables of the cast giving the URL arguments."""

    def url(c):
        base = reverse(name, args=[a(c) for a in args])
        return base + ("?" + urlencode(query(c) if callable(query) else query) if query else "")

    return Case(frozenset(allow), url, **kw)


def api_op(template, allow, *, query=None, **kw):
    """A JSON API operation by its path template under /api/v1."""

    def url(c):
        base = "/api/v1" + template.format(
            request_id=c.request.public_id,
            booking_id=c.booking.public_id,
            slot_id=c.held_slot.public_id,
        )
        return base + ("?" + urlencode(query(c) if callable(query) else query) if query else "")

    return Case(frozenset(allow), url, kind="api", **kw)


def fhir(path, allow, *, query=None, **kw):
    def url(c):
        return "/fhir/" + path + ("?" + urlencode(query(c), doseq=True) if query else "")

    return Case(frozenset(allow), url, kind="fhir", **kw)


REQ = lambda c: c.request.public_id  # noqa: E731
BOOKING = lambda c: c.booking.public_id  # noqa: E731
PRO = lambda c: c.pro.public_id  # noqa: E731

ORIENT = {OP91, REG}  # request.orient / booking.create / booking.cancel
CREATE = {OP91, REG, ARM, OP43}  # request.create: the 43 operator creates in their own SAS
VIEW91 = {OP91, REG, ARM, ADMIN}  # request.view on a request of SAS 91
AGENDA = {EFF, DEL}
INDICATORS = {REG, COORD_B, ADMIN}


def _failed_message(c):
    """One of the cast booking's messages, failed for good (inside the call's savepoint)."""
    from relais.notifications.models import Notification

    message = Notification.objects.filter(booking=c.booking).first()
    Notification.objects.filter(pk=message.pk).update(status="failed")
    return message.public_id


def _client91():
    """The SAS 91 partner's API client (the SAS 91 admin manages it, nobody else)."""
    return ApiClient.objects.get(name="partenaire-91").public_id


def _hub_failed() -> int:
    """A failed message to the Hub Santé (an RS-ERROR answer: no request, no territory)."""
    import uuid

    from relais.interop.models import HubOutbound

    return HubOutbound.objects.create(
        distribution_id=f"fr.health.test.relais_{uuid.uuid4()}",
        recipient_id="fr.health.samu910",
        use_case="error",
        envelope={},
        status="failed",
    ).pk


def _sas_link(slot) -> str:
    from django.conf import settings

    from relais.interop.regulator_links import sas_deep_link

    return sas_deep_link(slot).removeprefix(settings.SITE_URL)


def _today_window(c):
    day = timezone.localdate()
    return {
        "start": [f"ge{day.isoformat()}", f"le{(day + timedelta(days=7)).isoformat()}"],
        "schedule.actor:Practitioner.identifier": [f"urn:oid:1.2.250.1.71.4.2.1|8{c.pro.rpps}"],
        "status": ["free"],
    }


# "METHOD url-name" for pages (and the non-operation patterns of the API), "METHOD /path"
# (Ninja template) for API operations. One entry per (route, method) exercised.
TABLE: dict[str, Case] = {
    # core and accounts
    "GET core:home": page("core:home", LOGGED_IN),
    "GET accounts:login": page("accounts:login", EVERYONE),
    "GET accounts:two_factor": page("accounts:two_factor", LOGGED_IN),
    "GET accounts:two_factor_enrol": page("accounts:two_factor_enrol", LOGGED_IN),
    "GET accounts:oidc_start": page(
        "accounts:oidc_start",
        EVERYONE,
        ok=frozenset({"allow", "login"}),
        note="public: starts the Pro Santé Connect login (back to login when not configured)",
    ),
    "GET accounts:oidc_callback": page(
        "accounts:oidc_callback",
        EVERYONE,
        ok=frozenset({"allow", "login"}),
        note="public: the provider's answer; without a valid state it goes back to login",
    ),
    "GET accounts:two_factor_confirm": page(
        "accounts:two_factor_confirm",
        EVERYONE,
        lambda c: "lien-invalide",
        ok=frozenset({"allow", "login"}),
        note="public: the e-mailed link is the key; an invalid one goes back to login",
    ),
    "POST accounts:logout": page(
        "accounts:logout", EVERYONE, ok=frozenset({"allow", "login"}), note="public by design"
    ),
    # regulation
    "GET regulation:worklist": page("regulation:worklist", {*VIEW91, OP43}),
    "GET regulation:worklist_live": page("regulation:worklist_live", {*VIEW91, OP43}),
    "GET regulation:request_new": page("regulation:request_new", CREATE),
    "POST regulation:motif_suggest": page(
        "regulation:motif_suggest", CREATE, data=lambda c: {"motif_text": "fièvre"}
    ),
    "POST regulation:red_flag_questions": page(
        "regulation:red_flag_questions",
        {*CREATE, EFF},
        data=lambda c: {"motif_text": "douleur thoracique"},
        note="the intake and referral forms' red-flag questions panel (issue 15)",
    ),
    "GET regulation:request_detail": page("regulation:request_detail", VIEW91, REQ),
    "POST regulation:request_close": page(
        "regulation:request_close",
        ORIENT,
        REQ,
        data=lambda c: {"outcome": "advice", "reason": "conseil téléphonique"},
    ),
    "POST regulation:patient_lookup": page(
        "regulation:patient_lookup", CREATE, data=lambda c: {"last_name": "pa"}
    ),
    "POST regulation:request_decide": page(
        "regulation:request_decide", {REG}, REQ, data=lambda c: {"decision": "consultation"}
    ),
    "POST regulation:request_override": page(
        "regulation:request_override", {REG}, REQ, data=lambda c: {"reason": "vu au téléphone"}
    ),
    "POST regulation:request_merge": page(
        "regulation:request_merge", {OP91, REG, ARM}, REQ, data=lambda c: {}
    ),
    "POST regulation:patient_contact": page(
        "regulation:patient_contact",
        {OP91, REG, ARM},
        REQ,
        data=lambda c: {"phone": "0639981111", "commune": "Évry-Courcouronnes — 91228"},
    ),
    "GET regulation:referral_new": page("regulation:referral_new", {EFF}),
    "GET regulation:patient_export": page("regulation:patient_export", {ADMIN}, REQ),
    "GET regulation:web_request": page(
        "regulation:web_request",
        EVERYONE,
        lambda c: c.request.cpts.public_id,
        note="the patients' public web form",
    ),
    "GET regulation:follow": page(
        "regulation:follow",
        EVERYONE,
        lambda c: follow_token(c.request),
        note="the signed link is the key",
    ),
    # orientation
    "GET orientation:ranked_slots": page("orientation:ranked_slots", ORIENT, REQ),
    "POST orientation:book": page(
        "orientation:book", ORIENT, REQ, data=lambda c: {"slot": str(c.free_slot.public_id)}
    ),
    "POST orientation:hold": page(
        "orientation:hold", ORIENT, REQ, data=lambda c: {"slot": str(c.free_slot.public_id)}
    ),
    "POST orientation:release": page(
        "orientation:release", ORIENT, REQ, data=lambda c: {"slot": str(c.held_slot.public_id)}
    ),
    "POST orientation:surnumeraire": page(
        "orientation:surnumeraire",
        ORIENT,
        REQ,
        data=lambda c: {
            "professional": str(c.surnumeraire_pro.public_id),
            "start": timezone.localtime(c.now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        },
    ),
    "POST orientation:level2": page("orientation:level2", ORIENT, REQ),
    "GET orientation:level2_offer": page(
        "orientation:level2_offer", EVERYONE, lambda c: c.offer_token, note="the link is the key"
    ),
    "POST orientation:cancel": page(
        "orientation:cancel", ORIENT, BOOKING, data=lambda c: {"reason": "test"}
    ),
    "POST orientation:refuse_surnumeraire": page(
        "orientation:refuse_surnumeraire", {EFF}, BOOKING, data=lambda c: {"reason": "complet"}
    ),
    "GET orientation:my_patients": page("orientation:my_patients", {EFF}),
    "POST orientation:record_outcome": page(
        "orientation:record_outcome", {EFF}, BOOKING, data=lambda c: {"outcome": "fulfilled"}
    ),
    # reference data autocompletes
    "GET territory:communes": page(
        "territory:communes", LOGGED_IN, query={"q": "evry"}, note="public reference data"
    ),
    "GET directory:doctors": page(
        "directory:doctors", {*CREATE, EFF}, query={"medecin_traitant": "al"}
    ),
    # indicators
    "GET indicators:dashboard": page("indicators:dashboard", INDICATORS),
    "GET indicators:export_csv": page("indicators:export_csv", INDICATORS, lambda c: "synthese"),
    "GET indicators:export_xlsx": page("indicators:export_xlsx", INDICATORS, lambda c: "synthese"),
    "GET indicators:report": page("indicators:report", INDICATORS),
    "GET indicators:report_pdf": page("indicators:report_pdf", INDICATORS),
    # agenda (the professional and their délégataire only)
    "GET agenda:index": page("agenda:index", AGENDA),
    "GET agenda:agenda": page("agenda:agenda", AGENDA, PRO),
    "GET agenda:rule_new": page("agenda:rule_new", AGENDA, PRO),
    "GET agenda:rule_edit": page("agenda:rule_edit", AGENDA, PRO, lambda c: c.rule.public_id),
    "POST agenda:rule_remove": page(
        "agenda:rule_remove", AGENDA, PRO, lambda c: c.rule.public_id, data=lambda c: {}
    ),
    "POST agenda:absence_new": page("agenda:absence_new", AGENDA, PRO, data=lambda c: {}),
    "POST agenda:absence_remove": page(
        "agenda:absence_remove", AGENDA, PRO, lambda c: c.absence.public_id, data=lambda c: {}
    ),
    "POST agenda:slot_close": page(
        "agenda:slot_close", AGENDA, PRO, lambda c: c.free_slot.public_id, data=lambda c: {}
    ),
    "GET agenda:slot_new": page("agenda:slot_new", AGENDA, PRO),
    "GET agenda:import": page("agenda:import", AGENDA, PRO),
    "GET agenda:feed_settings": page("agenda:feed_settings", AGENDA, PRO),
    "GET agenda:statement": page("agenda:statement", AGENDA, PRO),
    "GET agenda:participation": page("agenda:participation", AGENDA, PRO),
    "GET agenda:delegations": page("agenda:delegations", {EFF}, PRO),
    "GET agenda:feed": page("agenda:feed", EVERYONE, lambda c: c.feed_token, note="token is key"),
    # interop pages
    "GET interop:slot_open": page("interop:slot_open", ORIENT, lambda c: c.free_slot.public_id),
    "GET interop:sas_reports": page("interop:sas_reports", {ADMIN}),
    "GET interop:hub_failures": page("interop:hub_failures", {ADMIN}),
    "POST interop:hub_retry": page(
        "interop:hub_retry", {ADMIN}, lambda c: _hub_failed(), data=lambda c: {}
    ),
    # API clients back-office (rules: relais/accounts/api_clients.py)
    "GET accounts:api_clients": page("accounts:api_clients", {ADMIN, COORD_B}),
    "GET accounts:api_client_new": page("accounts:api_client_new", {ADMIN, COORD_B}),
    "POST accounts:api_client_rotate": page(
        "accounts:api_client_rotate", {ADMIN}, lambda c: _client91(), data=lambda c: {}
    ),
    "POST accounts:api_client_revoke": page(
        "accounts:api_client_revoke", {ADMIN}, lambda c: _client91(), data=lambda c: {}
    ),
    "POST accounts:api_client_certificate": page(
        "accounts:api_client_certificate",
        {ADMIN},
        lambda c: _client91(),
        data=lambda c: {"remove": "1"},
    ),
    "GET interop:sas_slot_link": Case(
        EVERYONE,
        lambda c: _sas_link(c.free_slot),
        note="Slot.comment: without the platform's assertion, a redirect to interop:slot_open",
    ),
    "POST interop:sas_report_retry": page(
        "interop:sas_report_retry", {ADMIN}, lambda c: c.report.pk, data=lambda c: {}
    ),
    # messages failed for good (coordinators and admins of the message's territory) and the
    # public health figures (counts only; 503 here: no worker heartbeat in the tests)
    "GET notifications:failed": page("notifications:failed", {COORD_B, ADMIN}),
    "POST notifications:resend": page(
        "notifications:resend",
        {ADMIN},
        _failed_message,
        data=lambda c: {},
        note="a SAS 91 / CPTS A message: 404 to the CPTS B coordinator",
    ),
    "GET notifications:healthz": page(
        "notifications:healthz", EVERYONE, ok=frozenset({"allow", 503}), note="public, counts"
    ),
    # Prometheus: by address (RELAIS_METRICS_ALLOWED_IPS, the test client's 127.0.0.1) or
    # bearer token, not by role; the refusals are in tests/core/test_observability.py.
    "GET notifications:metrics": page(
        "notifications:metrics", EVERYONE, note="scraper address or token, counts only"
    ),
    # audit trail (administrators)
    "GET audit:events": page("audit:events", {ADMIN}),
    "GET audit:export": page("audit:export", {ADMIN}),
    # JSON API: schema, docs and health are public
    "GET api:openapi-json": page("api:openapi-json", EVERYONE, kind="api"),
    "GET api:openapi-view": page("api:openapi-view", EVERYONE, kind="api"),
    "GET api:api-root": page(
        "api:api-root", EVERYONE, kind="api", ok=frozenset({404}), note="no view: 404 for all"
    ),
    "GET /health": api_op("/health", EVERYONE),
    "GET /communes": api_op(
        "/communes", {*USERS, *TOKENS}, query={"q": "evry"}, note="public reference data"
    ),
    "POST /requests": api_op(
        "/requests",
        {OP91, REG, ARM, TOK91},
        data=lambda c: {
            "patient": {"first_name": "Zoé", "last_name": "Martin", "commune_insee": "91228"},
            "motif_text": "fièvre",
        },
        note="a 91 patient: refused to SAS 43 operator and token",
    ),
    "GET /requests/{request_id}": api_op("/requests/{request_id}", {*VIEW91, TOK91}),
    "POST /requests/{request_id}/decision": api_op(
        "/requests/{request_id}/decision",
        {REG},
        data=lambda c: {"decision": "urgences", "note": "SAMU"},
        note="request.decide: the régulateur's session only, no token",
    ),
    "GET /requests": api_op(
        "/requests", {*VIEW91, OP43, TOK91, TOK43}, note="the caller's own territory only"
    ),
    "GET /motifs/suggest": api_op(
        "/motifs/suggest", {*CREATE, TOK91, TOK43}, query={"q": "fievre"}
    ),
    "POST /motifs/suggest": api_op(
        "/motifs/suggest", {*CREATE, TOK91, TOK43}, data=lambda c: {"q": "fievre"}
    ),
    "GET /indicators": api_op(
        "/indicators",
        {*INDICATORS, TOK91, TOK43},
        query={"start": "2024-01-01", "end": "2024-01-31"},
    ),
    "GET /requests/{request_id}/slots": api_op("/requests/{request_id}/slots", {*ORIENT, TOK91}),
    "POST /bookings": api_op(
        "/bookings",
        {*ORIENT, TOK91},
        data=lambda c: {"request": str(c.request.public_id), "slot": str(c.free_slot.public_id)},
    ),
    "POST /bookings/{booking_id}/cancel": api_op(
        "/bookings/{booking_id}/cancel", {*ORIENT, TOK91}, data=lambda c: {"reason": "test"}
    ),
    "POST /holds": api_op(
        "/holds",
        ORIENT,
        data=lambda c: {"request": str(c.request.public_id), "slot": str(c.free_slot.public_id)},
        note="holds belong to signed-in operators, never to tokens",
    ),
    "DELETE /holds/{slot_id}": api_op(
        "/holds/{slot_id}", {OP91}, note="only the operator holding the slot releases it"
    ),
    "POST /requests/{request_id}/surnumeraire": api_op(
        "/requests/{request_id}/surnumeraire",
        {*ORIENT, TOK91},
        data=lambda c: {
            "professional": str(c.surnumeraire_pro.public_id),
            "start": (c.now + timedelta(hours=2)).isoformat(),
        },
    ),
    "POST /requests/{request_id}/level2": api_op(
        "/requests/{request_id}/level2", {*ORIENT, TOK91}, data=lambda c: {}
    ),
    "GET /requests/{request_id}/level2": api_op("/requests/{request_id}/level2", {*VIEW91, TOK91}),
    # FHIR (bearer tokens only; territory of writes is covered by tests/interop)
    "GET fhir:metadata": fhir("metadata", EVERYONE),
    "GET fhir:slot_search": fhir("Slot", {TOK91, TOK43}, query=_today_window),
    "GET fhir:appointment": fhir("Appointment", {TOK91, TOK43}),
    "POST fhir:appointment": fhir(
        "Appointment",
        {TOK91, TOK43},
        data=lambda c: {},
        ok=frozenset({400}),
        note="gate only: an empty body is refused after the scope check",
    ),
    "PUT fhir:appointment": fhir(
        "Appointment",
        {TOK91, TOK43},
        query=lambda c: {"identifier": "urn:x|inconnu"},
        data=lambda c: {},
        ok=frozenset({400, 404}),
        note="gate only: another client's appointment is not found",
    ),
    # Reads by id (issue 16): gate only; what each client reads is tested in tests/interop.
    "GET fhir:slot_read": fhir(
        "Slot/inconnu", {TOK91, TOK43}, ok=frozenset({404}), note="gate only: unknown id"
    ),
    "GET fhir:schedule_read": fhir(
        "Schedule/sch-0-0", {TOK91, TOK43}, ok=frozenset({404}), note="gate only: unknown id"
    ),
    "GET fhir:practitioner_read": fhir(
        "Practitioner/inconnu", {TOK91, TOK43}, ok=frozenset({404}), note="gate only: unknown id"
    ),
    "GET fhir:appointment_read": fhir(
        "Appointment/inconnu", {TOK91, TOK43}, ok=frozenset({404}), note="gate only: unknown id"
    ),
    "GET fhir:not_found": fhir(
        "Inconnu", EVERYONE, ok=frozenset({404}), note="any other /fhir/ path: OperationOutcome"
    ),
    # INT_R02 regulator accounts (scope regulators:write; bodies: tests/interop/test_regulators)
    "POST fhir:regulators": fhir(
        "Practitioner",
        {TOK91, TOK43},
        data=lambda c: {},
        ok=frozenset({400}),
        note="gate only: an empty body is refused after the scope check",
    ),
    "PUT fhir:regulators": fhir(
        "Practitioner",
        {TOK91, TOK43},
        query=lambda c: {"identifier": "urn:x|inconnu"},
        data=lambda c: {},
        ok=frozenset({400}),
        note="gate only: an identifier of another system is refused",
    ),
    "DELETE fhir:regulators": fhir(
        "Practitioner",
        {TOK91, TOK43},
        query=lambda c: {"identifier": "urn:oid:1.2.250.1.71.4.2.1|inconnu"},
        ok=frozenset({404}),
        note="gate only: an unknown account",
    ),
    "GET fhir:bulk_publish": fhir("$bulk-publish", EVERYONE, note="SMART links: public slots"),
    "GET fhir:bulk_file": fhir("bulk/Slot.ndjson", EVERYONE, note="SMART links: public slots"),
}

# The back-office routes (territory, directory, accounts): tests/security/admin_cases.py.
from tests.security.admin_cases import build_table  # noqa: E402

TABLE.update(build_table())
# The partner sources' back-office and the public slot page: tests/security/partner_cases.py.
from tests.security.partner_cases import build_table as build_partner_table  # noqa: E402

TABLE.update(build_partner_table())


# --- enumeration of the routes ------------------------------------------------------------------


def _walk(patterns, namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace
            inner = f"{namespace}:{ns}" if namespace and ns else ns or namespace
            yield from _walk(p.url_patterns, inner)
        elif isinstance(p, URLPattern):
            is_ninja_operation = getattr(p.callback, "__module__", "") == "ninja.operation"
            yield (f"{namespace}:{p.name}" if namespace else p.name), is_ninja_operation


def _ninja_operations() -> set[str]:
    ops = set()
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                for method in op.methods:
                    ops.add(f"{method} {(prefix.rstrip('/') + path) or '/'}")
    return ops


def test_it_has_an_access_rule_for_every_route():
    patterns = list(_walk(get_resolver().url_patterns))
    # Ninja operation patterns are checked per (method, path) below, not by URL name.
    page_names = {name for name, is_operation in patterns if not is_operation}
    declared_pages = {key.split(" ", 1)[1] for key in TABLE if " /" not in key}
    declared_ops = {key for key in TABLE if " /" in key}
    missing = sorted(page_names - declared_pages) + sorted(_ninja_operations() - declared_ops)
    assert not missing, f"new route without access rules (add it to TABLE): {missing}"
    stale = sorted(declared_pages - page_names) + sorted(declared_ops - _ninja_operations())
    assert not stale, f"routes in the matrix that no longer exist: {stale}"


# --- the calls ------------------------------------------------------------------------------------

LOGIN = "/connexion/"


def _call(case: Case, method: str, persona: str, cast) -> tuple[int, str]:
    client = Client()
    headers = {}
    if persona in USERS:
        client.force_login(cast.users[persona])
    elif persona in TOKENS:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {cast.tokens[persona]}"
    url = case.url(cast)
    data = case.data(cast) if case.data else None
    if case.kind == "page" and method == "POST":
        response = client.post(url, data or {}, **headers)
    elif data is not None or method not in ("GET",):
        response = client.generic(
            method,
            url,
            json.dumps(data if data is not None else {}),
            content_type="application/json",
            **headers,
        )
    else:
        response = client.get(url, **headers)
    return response.status_code, response.get("Location", "")


def _outcome(status: int, location: str) -> str | int:
    if status in (301, 302, 303) and location.split("?")[0] == LOGIN:
        return "login"
    if 200 <= status < 400:
        return "allow"
    return status


def _expected_refusal(case: Case, persona: str) -> set:
    if case.kind == "page":
        return {"login"} if persona in (ANON, *TOKENS) else {403, 404}
    if persona == ANON or (case.kind == "fhir" and persona in USERS):
        return {401}
    return {403, 404}


@pytest.mark.parametrize("key", sorted(TABLE))
def test_it_enforces_the_access_rule(key, cast):
    method = key.split(" ", 1)[0]
    case = TABLE[key]
    wrong = []
    for persona in PERSONAS:
        savepoint = transaction.savepoint()
        try:
            status, location = _call(case, method, persona, cast)
        finally:
            transaction.savepoint_rollback(savepoint)
        got = _outcome(status, location)
        expected = case.ok if persona in case.allow else _expected_refusal(case, persona)
        if got not in expected:
            wrong.append(f"{persona}: got {got} ({status} {location}), expected {set(expected)}")
    assert not wrong, f"{key}:\n  " + "\n  ".join(wrong)


def test_it_counts_the_matrix():
    """The figures quoted in docs/security.md."""
    assert len(TABLE) >= 60
    assert len(PERSONAS) == 13
