"""The route × role × territory WRITE matrix (issue 14, item 2).

Every write route — a page route (resolver), a JSON API operation with POST / PUT / PATCH /
DELETE (the OpenAPI schema), a FHIR write — has a rule here: a list of scenarios, each a
target (URL and body) and the personas whose call may write. A write route without a rule
fails `test_it_has_a_write_rule_for_every_write_route` ("new write route without a
territory rule"); a page route that writes nothing is declared in READ_ONLY_PAGES, and a
POST to it by every persona must change nothing.

For every scenario, each of the 13 personas of the read matrix (tests/security/
test_matrix.py) calls it in a savepoint rolled back afterwards; the domain tables (slot
status and holds, bookings, requests, niveau-2 calls and offers, agendas, reports,
messages…) are compared before and after:
- a persona outside `allow` (the other territory, the wrong channel, the wrong role) must
  leave them unchanged, and never get a 5xx;
- when the scenario says `changes` (the default for the orientation writes), at least one
  allowed persona's call changes them: the rule is not vacuous.
Scenarios aim at the writes' targets: the request's territory (91 / 43), the slot's
territory and channel (SAS 43 slot, public-only and CPTS-only slots of SAS 91, a
partners-only slot), the professional's territory (surnuméraire)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone

from relais.accounts.models import ApiClient
from relais.agenda.models import AvailabilityException, AvailabilityRule, CalendarFeed, Slot
from relais.api import api
from relais.directory.models import Delegation, Professional
from relais.interop.models import RegulatorAccount, SasReport
from relais.interop.services import identifier_key
from relais.notifications.models import Notification
from relais.orientation.models import Booking, BookingChannel, Level2Call, Level2Offer
from relais.orientation.services import booking_create
from relais.regulation.models import Patient, Request, RequestEvent
from tests import factories as f
from tests.security.test_matrix import (  # noqa: F401 - `cast` is a fixture
    OP43,
    OP91,
    PERSONAS,
    REG,
    TABLE,
    TOK43,
    TOK91,
    TOKENS,
    USERS,
    _walk,
    cast,
)

pytestmark = pytest.mark.django_db

ORIENT = frozenset({OP91, REG})
NOBODY = frozenset()
FHIR_ID_SYSTEM = "https://sas.example/rdv"

# Domain tables compared before / after each call (not the audit trail, sessions or the
# clients' last use, which reads update).
SNAPSHOT = [
    (Slot, ("id", "status", "held_by_id", "held_until", "for_sas", "for_public")),
    (Booking, ("id", "status", "slot_id", "request_id")),
    (Request, ("id", "status", "updated_at")),
    (RequestEvent, ("id",)),
    (Patient, ("id", "phone", "email", "commune_id")),
    (Level2Call, ("id", "status")),
    (Level2Offer, ("id", "status")),
    (AvailabilityRule, ("id", "updated_at")),
    (AvailabilityException, ("id",)),
    (CalendarFeed, ("id", "token_hash")),
    (Delegation, ("id",)),
    (Professional, ("id", "max_snp_per_day", "accepts_surnumeraire")),
    (SasReport, ("id", "status")),
    (Notification, ("id", "status")),
    (RegulatorAccount, ("id", "active", "updated_at")),
    (ApiClient, ("id", "token_hash", "revoked_at", "cert_fingerprint")),
]


def snapshot():
    return [sorted(model.objects.values_list(*fields)) for model, fields in SNAPSHOT]


# --- the write cast: the read matrix's, plus targets of another territory and channel ----------


@pytest.fixture
def wcast(cast, sas43):  # noqa: F811 - the read matrix's cast, extended
    now = cast.now
    pro43 = f.ProfessionalFactory(last_name="Velay", practice_in="43157", accepts_surnumeraire=True)
    request43 = f.RequestFactory(patient=f.PatientFactory(commune=f.commune("43157")))
    cast.pro43 = pro43
    cast.request43 = request43
    cast.slot43 = f.SlotFactory(professional=pro43, start=now + timedelta(hours=3))
    cast.booking43 = booking_create(
        request=f.RequestFactory(patient=f.PatientFactory(commune=f.commune("43157"))),
        slot=f.SlotFactory(professional=pro43, start=now + timedelta(hours=6)),
    )
    later = now + timedelta(hours=7)
    cast.public_only = f.SlotFactory(
        professional=cast.pro, start=later, for_sas=False, for_cpts=False, for_public=True
    )
    cast.cpts_only = f.SlotFactory(
        professional=cast.pro, start=later + timedelta(minutes=20), for_sas=False, for_cpts=True
    )
    cast.partners_only = f.SlotFactory(
        professional=cast.pro,
        start=later + timedelta(minutes=40),
        for_sas=False,
        for_cpts=False,
        for_partners=True,
    )
    past_slot = f.SlotFactory(professional=cast.pro, start=now + timedelta(hours=8))
    cast.past_booking = booking_create(request=f.RequestFactory(), slot=past_slot)
    Slot.objects.filter(pk=past_slot.pk).update(
        start=now - timedelta(hours=1), end=now - timedelta(minutes=40)
    )
    tok91_client = ApiClient.objects.get(name="partenaire-91")
    cast.fhir_booking = booking_create(
        request=f.RequestFactory(),
        slot=f.SlotFactory(professional=cast.pro, start=now + timedelta(hours=9)),
        channel=BookingChannel.FHIR,
        idempotency_key=identifier_key(FHIR_ID_SYSTEM, "W-1"),
        idempotency_owner=f"client:{tok91_client.pk}",
    )
    f.commune("91174")
    failed = {"status": "failed", "attempts": 5, "last_error": "passerelle SMS injoignable"}
    Notification.objects.filter(booking=cast.booking).update(**failed)
    Notification.objects.filter(booking=cast.booking43).update(**failed)
    cast.failed91 = Notification.objects.filter(booking=cast.booking).first()
    cast.failed43 = Notification.objects.filter(booking=cast.booking43).first()
    return cast


# --- the rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    allow: frozenset  # personas whose call may write
    url: Callable | None = None  # cast -> URL; None: the read matrix's URL of the route
    data: Callable | None = None  # cast -> form data / JSON body; None: the read matrix's
    changes: bool = False  # an allowed persona's call must change the database
    note: str = ""


def _read_case(key):
    return TABLE.get(key) or TABLE[key.replace(key.split(" ", 1)[0], "GET", 1)]


def slot_form(attr):
    return lambda c: {"slot": str(getattr(c, attr).public_id)}


def api_body(request_attr, slot_attr):
    return lambda c: {
        "request": str(getattr(c, request_attr).public_id),
        "slot": str(getattr(c, slot_attr).public_id),
    }


def page_url(name, attr):
    return lambda c: reverse(name, args=[getattr(c, attr).public_id])


def surnumeraire_form(attr, api=False):
    def data(c):
        start = c.now + timedelta(hours=2)
        if api:
            return {"professional": str(getattr(c, attr).public_id), "start": start.isoformat()}
        local = timezone.localtime(start).strftime("%Y-%m-%dT%H:%M")
        return {"professional": str(getattr(c, attr).public_id), "start": local}

    return data


def fhir_appointment(slot_attr, ident="W-2", address=("91100", "Corbeil-Essonnes")):
    def body(c):
        slot = getattr(c, slot_attr)
        return {
            "resourceType": "Appointment",
            "identifier": [{"system": FHIR_ID_SYSTEM, "value": ident}],
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot.public_id}"}],
            "contained": [
                {
                    "resourceType": "Patient",
                    "id": "p1",
                    "name": [{"family": "Durand", "given": ["Lucie"]}],
                    "birthDate": "1988-04-02",
                    "telecom": [{"system": "phone", "value": "+33639981234"}],
                    "address": [{"postalCode": address[0], "city": address[1]}],
                }
            ],
            "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}],
        }

    return body


def fhir_status(status):
    return lambda c: {"resourceType": "Appointment", "status": status}


FHIR_PUT_URL = lambda c: f"/fhir/Appointment?identifier={FHIR_ID_SYSTEM}|W-1"  # noqa: E731
API = "/api/v1"


REGULATOR_SAS_ID = "urn:oid:1.2.250.1.213.3.6"


def _client_form(departement):
    from relais.territory.models import Sas

    sas = Sas.objects.get(departement__code=departement)
    return {"name": "nouveau-client", "scopes": ["slots:read"], "territory": f"sas:{sas.public_id}"}


def _client_url(action, departement):
    def url(c):
        client = ApiClient.objects.get(name=f"partenaire-{departement}")
        return f"/administration/clients-api/{client.public_id}/{action}/"

    return url


def _regulator(system, value):
    """A FrPractitionerRegul (the IG's example 2 shape)."""
    return {
        "resourceType": "Practitioner",
        "meta": {"source": REGULATOR_SAS_ID},
        "identifier": [{"system": system, "value": value}],
        "active": True,
        "name": [{"family": "MARIUS", "given": ["Jules"]}],
        "telecom": [{"system": "email", "value": "jules.marius@test.com"}],
    }


def gate(key, note="gate only: valid forms are tested in the app's own tests"):
    """A write whose allowed personas are the read matrix's, called with its data (or an
    empty form): the others must change nothing."""
    return [Write(_read_case(key).allow, note=note)]


WRITES: dict[str, list[Write]] = {
    # --- orientation: every target of another territory or channel is refused -------------
    "POST orientation:book": [
        Write(ORIENT, changes=True, note="free slot of SAS 91, request of SAS 91"),
        Write(NOBODY, data=slot_form("slot43"), note="slot of SAS 43"),
        Write(NOBODY, data=slot_form("public_only"), note="slot open to the public only"),
        Write(NOBODY, data=slot_form("cpts_only"), note="CPTS-only slot, SAS operators"),
        Write(NOBODY, data=slot_form("partners_only"), note="partners-only slot"),
        Write(
            frozenset({OP43}),
            url=page_url("orientation:book", "request43"),
            data=slot_form("slot43"),
            changes=True,
            note="SAS 43 in its own territory",
        ),
    ],
    "POST orientation:hold": [
        Write(ORIENT, changes=True),
        Write(NOBODY, data=slot_form("slot43"), note="slot of SAS 43"),
        Write(NOBODY, data=slot_form("public_only"), note="slot open to the public only"),
        Write(
            frozenset({OP43}),
            url=page_url("orientation:hold", "request43"),
            data=slot_form("slot43"),
            changes=True,
        ),
    ],
    "POST orientation:release": [
        Write(frozenset({OP91}), changes=True, note="only the holder releases"),
    ],
    "POST orientation:surnumeraire": [
        Write(ORIENT, changes=True),
        Write(NOBODY, data=surnumeraire_form("pro43"), note="a doctor of SAS 43"),
    ],
    "POST orientation:level2": [
        Write(ORIENT, changes=True),
        Write(frozenset({OP43}), url=page_url("orientation:level2", "request43"), changes=True),
    ],
    "POST orientation:cancel": [
        Write(ORIENT, changes=True),
        Write(frozenset({OP43}), url=page_url("orientation:cancel", "booking43"), changes=True),
    ],
    "POST orientation:record_outcome": [
        Write(
            frozenset({"effecteur_cpts_a"}),
            url=page_url("orientation:record_outcome", "past_booking"),
            data=lambda c: {"outcome": "fulfilled"},
            changes=True,
            note="only the booking's professional",
        ),
        Write(
            NOBODY,
            url=page_url("orientation:record_outcome", "booking43"),
            data=lambda c: {"outcome": "fulfilled"},
            note="another professional's booking",
        ),
    ],
    "POST orientation:refuse_surnumeraire": [
        Write(
            frozenset({"effecteur_cpts_a"}),
            note="the cast's booking is not a surnuméraire: refused to all (surnumeraire tests)",
        ),
    ],
    "POST orientation:level2_offer": [
        Write(
            _read_case("GET orientation:level2_offer").allow,
            data=lambda c: {"action": "decline"},
            changes=True,
            note="public: the signed link is the key",
        ),
    ],
    # --- JSON API ----------------------------------------------------------------------------
    "POST /bookings": [
        Write(ORIENT | {TOK91}, changes=True),
        Write(NOBODY, data=api_body("request", "slot43"), note="token 91 / operator 91: 43 slot"),
        Write(NOBODY, data=api_body("request", "public_only"), note="public-only slot"),
        Write(NOBODY, data=api_body("request", "cpts_only"), note="CPTS-only slot"),
        Write(
            frozenset({TOK91}),
            data=api_body("request", "partners_only"),
            changes=True,
            note="a partners-only slot: partner tokens only, not operators",
        ),
        Write(
            frozenset({OP43, TOK43}),
            data=api_body("request43", "slot43"),
            changes=True,
            note="SAS 43 in its own territory",
        ),
    ],
    "POST /holds": [
        Write(ORIENT, changes=True),
        Write(NOBODY, data=api_body("request", "slot43")),
        Write(NOBODY, data=api_body("request", "public_only")),
    ],
    "DELETE /holds/{slot_id}": [Write(frozenset({OP91}), changes=True)],
    "POST /bookings/{booking_id}/cancel": [
        Write(ORIENT | {TOK91}, changes=True),
        Write(
            frozenset({OP43, TOK43}),
            url=lambda c: f"{API}/bookings/{c.booking43.public_id}/cancel",
            changes=True,
        ),
    ],
    "POST /requests/{request_id}/surnumeraire": [
        Write(ORIENT | {TOK91}, changes=True),
        Write(NOBODY, data=surnumeraire_form("pro43", api=True), note="a doctor of SAS 43"),
    ],
    "POST /requests/{request_id}/level2": [
        Write(ORIENT | {TOK91}, changes=True),
        Write(
            frozenset({OP43, TOK43}),
            url=lambda c: f"{API}/requests/{c.request43.public_id}/level2",
            changes=True,
        ),
    ],
    "POST /requests": [Write(_read_case("POST /requests").allow, changes=True)],
    "POST /motifs/suggest": [
        Write(NOBODY, data=lambda c: {"q": "fièvre"}, note="a read sent by POST: writes nothing")
    ],
    # --- FHIR ----------------------------------------------------------------------------------
    "POST fhir:appointment": [
        Write(frozenset({TOK91}), data=fhir_appointment("free_slot"), changes=True),
        Write(
            frozenset({TOK43}),
            data=fhir_appointment("slot43", address=("43000", "Le Puy-en-Velay")),
            changes=True,
        ),
        Write(NOBODY, data=fhir_appointment("public_only"), note="public-only slot"),
        Write(NOBODY, data=fhir_appointment("partners_only"), note="partners-only slot"),
    ],
    "PUT fhir:appointment": [
        Write(
            frozenset({TOK91}),
            url=FHIR_PUT_URL,
            data=fhir_status("cancelled"),
            changes=True,
            note="the client's own appointment",
        ),
        Write(NOBODY, url=FHIR_PUT_URL, data=fhir_status("fulfilled"), note="outcome: pro only"),
    ],
    # --- INT_R02: regulator accounts (the platform's scope) and the deep link ---------------
    "POST fhir:regulators": [
        Write(
            frozenset({TOK91, TOK43}),
            data=lambda c: _regulator("urn:oid:1.2.250.1.71.4.2.1", "810002673899"),
            changes=True,
            note="scope regulators:write",
        )
    ],
    "PUT fhir:regulators": [
        Write(
            frozenset({TOK91, TOK43}),
            url=lambda c: f"/fhir/Practitioner?identifier={REGULATOR_SAS_ID}%7Cb6e39355",
            data=lambda c: _regulator(REGULATOR_SAS_ID, "b6e39355"),
            changes=True,
            note="conditional update of an unknown id creates (the IG)",
        )
    ],
    "DELETE fhir:regulators": [
        Write(
            NOBODY,
            url=lambda c: f"/fhir/Practitioner?identifier={REGULATOR_SAS_ID}%7Cinconnu",
            note="unknown account: 404",
        )
    ],
    "POST /requests/{request_id}/decision": [
        Write(frozenset({REG}), changes=True, note="the 91 régulateur on a 91 request"),
        Write(
            NOBODY,
            url=lambda c: f"{API}/requests/{c.request43.public_id}/decision",
            note="a request of SAS 43: no one of this cast decides it",
        ),
    ],
    # --- API clients back-office: the SAS 91 admin on SAS 91 clients only ---------------------
    "POST accounts:api_client_new": [
        Write(
            frozenset({"admin_sas91"}),
            data=lambda c: _client_form("91"),
            changes=True,
            note="a client limited to SAS 91, by its admin",
        ),
        Write(NOBODY, data=lambda c: _client_form("43"), note="SAS 43: administered by nobody"),
    ],
    "POST accounts:api_client_rotate": [
        Write(frozenset({"admin_sas91"}), url=_client_url("renouveler", 91), changes=True),
        Write(NOBODY, url=_client_url("renouveler", 43), note="a SAS 43 client"),
    ],
    "POST accounts:api_client_revoke": [
        Write(frozenset({"admin_sas91"}), url=_client_url("revoquer", 91), changes=True),
        Write(NOBODY, url=_client_url("revoquer", 43), note="a SAS 43 client"),
    ],
    "POST accounts:api_client_certificate": [
        Write(
            frozenset({"admin_sas91"}),
            url=_client_url("certificat", 91),
            data=lambda c: {"remove": "1"},
            note="gate only: certificates are tested in tests/accounts",
        ),
        Write(
            NOBODY,
            url=_client_url("certificat", 43),
            data=lambda c: {"remove": "1"},
            note="a SAS 43 client",
        ),
    ],
    "POST interop:sas_slot_link": [
        Write(
            NOBODY,
            data=lambda c: {"last_name": "Durand", "first_name": "Lucie", "phone": "0639981234"},
            note="without the platform's signed assertion nobody books through the link",
        )
    ],
    # --- the other apps' writes: the read matrix's roles, nothing written by anyone else -------
    "POST regulation:request_close": gate("POST regulation:request_close"),
    "POST regulation:request_decide": gate("POST regulation:request_decide"),
    "POST regulation:request_override": gate("POST regulation:request_override"),
    "POST regulation:request_merge": gate("POST regulation:request_merge"),
    "POST regulation:patient_contact": gate("POST regulation:patient_contact"),
    "POST regulation:request_new": gate("POST regulation:request_new"),
    "POST regulation:referral_new": gate("POST regulation:referral_new"),
    "POST regulation:web_request": gate("POST regulation:web_request", note="public form"),
    "POST regulation:follow": gate("POST regulation:follow", note="the signed link is the key"),
    "POST regulation:motif_suggest": [Write(NOBODY, note="a read sent by POST")],
    "POST regulation:red_flag_questions": [Write(NOBODY, note="a read sent by POST")],
    "POST regulation:patient_lookup": [Write(NOBODY, note="a read sent by POST")],
    "POST agenda:rule_new": gate("POST agenda:rule_new"),
    "POST agenda:rule_edit": gate("POST agenda:rule_edit"),
    "POST agenda:rule_remove": gate("POST agenda:rule_remove"),
    "POST agenda:absence_new": gate("POST agenda:absence_new"),
    "POST agenda:absence_remove": gate("POST agenda:absence_remove"),
    "POST agenda:slot_close": gate("POST agenda:slot_close"),
    "POST agenda:slot_new": gate("POST agenda:slot_new"),
    "POST agenda:import": gate("POST agenda:import"),
    "POST agenda:feed_settings": gate("POST agenda:feed_settings"),
    "POST agenda:participation": gate("POST agenda:participation"),
    "POST agenda:delegations": gate("POST agenda:delegations"),
    "POST interop:sas_report_retry": gate("POST interop:sas_report_retry"),
    "POST interop:hub_retry": gate("POST interop:hub_retry"),
    "POST notifications:resend": [
        Write(
            frozenset({"admin_sas91"}),
            url=page_url("notifications:resend", "failed91"),
            changes=True,
            note="a failed message of SAS 91: its admin only (CPTS B coordinator: 404)",
        ),
        Write(
            NOBODY,
            url=page_url("notifications:resend", "failed43"),
            note="a failed message of SAS 43: no persona of the cast",
        ),
    ],
    "POST accounts:login": [Write(NOBODY, note="sessions only")],
    "POST accounts:logout": [Write(NOBODY, note="sessions only")],
    "POST accounts:two_factor": [Write(NOBODY, note="the user's own second factor")],
    "POST accounts:two_factor_enrol": [Write(NOBODY, note="the user's own second factor")],
    "POST accounts:two_factor_confirm": [
        Write(
            NOBODY,
            url=lambda c: reverse("accounts:two_factor_confirm", args=["jeton-invalide"]),
            note="the user's own second factor (signed e-mail link)",
        )
    ],
}

# Page routes that write nothing (GET views, exports, feeds): a POST changes nothing.
READ_ONLY_PAGES = {
    "accounts:api_clients",
    "accounts:oidc_callback",
    "accounts:oidc_start",
    "agenda:agenda",
    "agenda:feed",
    "agenda:index",
    "agenda:statement",
    "api:api-root",
    "api:openapi-json",
    "api:openapi-view",
    "audit:events",
    "audit:export",
    "core:home",
    "directory:doctors",
    "fhir:bulk_file",
    "fhir:bulk_publish",
    "fhir:appointment_read",
    "fhir:metadata",
    "fhir:not_found",
    "fhir:practitioner_read",
    "fhir:schedule_read",
    "fhir:slot_read",
    "fhir:slot_search",
    "notifications:failed",
    "notifications:healthz",
    "notifications:metrics",
    "indicators:dashboard",
    "indicators:export_csv",
    "indicators:export_xlsx",
    "indicators:report",
    "indicators:report_pdf",
    "interop:hub_failures",
    "interop:sas_reports",
    "interop:slot_open",
    "orientation:my_patients",
    "orientation:ranked_slots",
    "regulation:patient_export",
    "regulation:request_detail",
    "regulation:worklist",
    "regulation:worklist_live",
    "territory:communes",
}
# The partner sources' back-office and the public slot page: tests/security/partner_cases.py.
from tests.security import partner_cases  # noqa: E402

WRITES.update(partner_cases.build_writes())
READ_ONLY_PAGES |= partner_cases.READ_ONLY
SNAPSHOT.extend(partner_cases.snapshot_models())

# The back-office writes, role AND territory: tests/security/admin_cases.py.
from tests.security import admin_cases  # noqa: E402

WRITES.update(admin_cases.build_writes())
READ_ONLY_PAGES |= admin_cases.READ_ONLY
SNAPSHOT.extend(admin_cases.snapshot_models())
WRITE_METHODS = {"post", "put", "patch", "delete"}


# --- enumeration -----------------------------------------------------------------------------


def _page_names() -> set[str]:
    return {name for name, is_operation in _walk(get_resolver().url_patterns) if not is_operation}


def _api_writes() -> set[str]:
    """Write operations of the OpenAPI schema, as "METHOD /path" under /api/v1."""
    schema = api.get_openapi_schema()
    return {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, operations in schema["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    }


def test_it_has_a_write_rule_for_every_write_route():
    pages = _page_names()
    page_writes = {key.split(" ", 1)[1] for key in WRITES if " /" not in key}
    api_writes = {key for key in WRITES if " /" in key}
    missing = sorted(pages - page_writes - READ_ONLY_PAGES) + sorted(_api_writes() - api_writes)
    assert not missing, f"new write route without a territory rule (add it to WRITES): {missing}"
    stale = sorted((page_writes | READ_ONLY_PAGES) - pages) + sorted(api_writes - _api_writes())
    assert not stale, f"write rules for routes that no longer exist: {stale}"
    assert not page_writes & READ_ONLY_PAGES, "a route is both a write and read-only"
    for key, scenarios in WRITES.items():
        assert scenarios, f"{key}: a rule needs at least one scenario"


# --- the calls -------------------------------------------------------------------------------


def _default_url(key, c):
    method, route = key.split(" ", 1)
    if route.startswith("/"):
        return TABLE[key].url(c) if key in TABLE else API + route
    case = _read_case(key)
    return case.url(c)


def _call(key: str, write: Write, persona: str, c) -> int:
    method, route = key.split(" ", 1)
    client = Client()
    headers = {}
    if persona in USERS:
        client.force_login(c.users[persona])
    elif persona in TOKENS:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {c.tokens[persona]}"
    url = write.url(c) if write.url else _default_url(key, c)
    if write.data is not None:
        data = write.data(c)
    else:
        case = TABLE.get(key)
        data = case.data(c) if case is not None and case.data else {}
    if route.startswith("/") or route.startswith("fhir:"):
        content_type = "application/fhir+json" if route.startswith("fhir:") else "application/json"
        response = client.generic(
            method, url, json.dumps(data), content_type=content_type, **headers
        )
    else:
        response = client.post(url, data, **headers)
    return response.status_code


@pytest.mark.parametrize("key", sorted(WRITES))
def test_it_refuses_writes_outside_the_rule_and_changes_nothing(key, wcast):
    wrong = []
    for index, write in enumerate(WRITES[key]):
        changed_by = []
        for persona in PERSONAS:
            savepoint = transaction.savepoint()
            try:
                before = snapshot()
                status = _call(key, write, persona, wcast)
                changed = snapshot() != before
            finally:
                transaction.savepoint_rollback(savepoint)
            label = f"#{index} {write.note or ''} {persona}"
            if status >= 500:
                wrong.append(f"{label}: answered {status}")
            if changed and persona not in write.allow:
                wrong.append(f"{label}: refused persona changed the database ({status})")
            if changed:
                changed_by.append(persona)
        if write.changes and not changed_by:
            wrong.append(f"#{index} {write.note}: no allowed persona could write (vacuous rule)")
    assert not wrong, f"{key}:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("name", sorted(READ_ONLY_PAGES))
def test_it_writes_nothing_on_a_read_only_page(name, wcast):
    case = _read_case(f"GET {name}")
    wrong = []
    for persona in PERSONAS:
        savepoint = transaction.savepoint()
        try:
            before = snapshot()
            client = Client()
            headers = {}
            if persona in USERS:
                client.force_login(wcast.users[persona])
            elif persona in TOKENS:
                headers["HTTP_AUTHORIZATION"] = f"Bearer {wcast.tokens[persona]}"
            client.post(case.url(wcast), {}, **headers)
            changed = snapshot() != before
        finally:
            transaction.savepoint_rollback(savepoint)
        if changed:
            wrong.append(persona)
    assert not wrong, f"{name}: a POST changed the database for {wrong}"


def test_it_counts_the_write_matrix():
    """The figures quoted in docs/security.md (update both together)."""
    scenarios = sum(len(s) for s in WRITES.values())
    assert (len(WRITES), scenarios, len(READ_ONLY_PAGES)) == (83, 126, 54)
    assert len(PERSONAS) == 13
