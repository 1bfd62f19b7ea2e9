"""schemathesis drives every /api/v1 operation from the OpenAPI schema, with a token
holding every scope on a small territory: no generated input may produce a 5xx."""

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from relais.accounts.services import API_SCOPES
from relais.wsgi import application
from tests import factories as f

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def token(db, cpts_a):
    from io import StringIO

    f.SlotFactory()
    f.RequestFactory()
    out = StringIO()
    call_command(
        "create_api_client", name="fuzzer", scopes=",".join(sorted(API_SCOPES)), stdout=out
    )
    return out.getvalue().strip().splitlines()[-1]


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_it_never_answers_a_server_error(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
    )


# --- stateful: requests created, slots listed, held, booked and cancelled --------------------
# A hypothesis state machine over the API (Ninja's schema has no OpenAPI links for
# schemathesis to follow): each step is a real call with a token holding every scope,
# valid or mutated input, and the ids the earlier steps returned. No step may answer 5xx.

import json  # noqa: E402
import os  # noqa: E402

from django.test import Client  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

STATEFUL_EXAMPLES = int(os.environ.get("RELAIS_FUZZ_EXAMPLES", 20))
FUZZ_CALLS = {"calls": 0, "5xx": [], "booked": 0}

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.text(min_size=0, max_size=130) | st.sampled_from(["Durand", "Lucie", "Ø", "A" * 101])
phones = st.sampled_from(["", "0639981234", "+33639981234", "0" * 21, "06 39 98"]) | st.text(
    max_size=25
)


class ApiMachine(RuleBasedStateMachine):
    requests = Bundle("requests")
    bookings = Bundle("bookings")

    def __init__(self):
        super().__init__()
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {ApiMachine.token}"}

    def call(self, method, path, body=None, raw=None, content_type="application/json"):
        if raw is None and body is not None:
            raw = json.dumps(body)
        if method == "GET":
            response = self.client.get(path, **self.headers)
        else:
            response = self.client.generic(
                method, path, raw or "", content_type=content_type, **self.headers
            )
        FUZZ_CALLS["calls"] += 1
        if response.status_code >= 500:
            FUZZ_CALLS["5xx"].append(f"{method} {path} {response.status_code}")
        assert response.status_code < 500, (method, path, raw, response.content[:500])
        return response

    @initialize()
    def start(self):
        self.slots = [str(s.public_id) for s in ApiMachine.slots]

    @rule(
        target=requests,
        first=names,
        last=names,
        phone=phones,
        email=st.sampled_from(["", "a@b.fr", "x" * 250 + "@e.fr", "pas-un-email"]),
        insee=st.sampled_from(["91228", "91174", "00000", "9122", "2A004"]),
        motif_code=st.sampled_from([None, "A03", "R05", "ZZZ9", ""]),
        motif_text=st.text(max_size=60),
        extra=st.dictionaries(st.text(max_size=6), junk, max_size=2),
    )
    def create_request(self, first, last, phone, email, insee, motif_code, motif_text, extra):
        body = {
            "patient": {
                "first_name": first,
                "last_name": last,
                "phone": phone,
                "email": email,
                "commune_insee": insee,
                **extra,
            },
            "motif_code": motif_code,
            "motif_text": motif_text,
        }
        response = self.call("POST", "/api/v1/requests", body)
        return response.json()["id"] if response.status_code == 201 else str(ApiMachine.request)

    @rule(req=requests)
    def list_slots(self, req):
        response = self.call("GET", f"/api/v1/requests/{req}/slots")
        assert response.status_code in (200, 403, 404, 422)

    @rule(req=requests, slot=st.integers(0, 5), minutes=st.sampled_from([None, 1, 15, 0, 99]))
    def hold(self, req, slot, minutes):
        slot = self.slots[slot]
        self.call("POST", "/api/v1/holds", {"request": req, "slot": slot, "minutes": minutes})

    @rule(target=bookings, req=requests, slot=st.integers(0, 5))
    def book(self, req, slot):
        slot = self.slots[slot]
        response = self.call("POST", "/api/v1/bookings", {"request": req, "slot": slot})
        FUZZ_CALLS["booked"] += response.status_code == 201
        return response.json()["id"] if response.status_code == 201 else slot

    @rule(booking=bookings, reason=st.text(max_size=40) | junk)
    def cancel(self, booking, reason):
        self.call("POST", f"/api/v1/bookings/{booking}/cancel", {"reason": reason})

    @rule(
        req=requests,
        body=junk,
        content_type=st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
        ),
        path=st.sampled_from(
            [
                "/api/v1/bookings",
                "/api/v1/holds",
                "/api/v1/requests/{req}/surnumeraire",
                "/api/v1/requests/{req}/level2",
                "/api/v1/requests",
                "/api/v1/motifs/suggest",
            ]
        ),
    )
    def junk_write(self, req, body, content_type, path):
        raw = json.dumps(body)
        self.call("POST", path.format(req=req), raw=raw, content_type=content_type)

    @rule(req=requests)
    def read(self, req):
        self.call("GET", f"/api/v1/requests/{req}")
        self.call("GET", f"/api/v1/requests/{req}/level2")

    @invariant()
    def no_server_error(self):
        assert not FUZZ_CALLS["5xx"]


@pytest.mark.django_db(transaction=True)
def test_it_never_answers_a_server_error_through_a_stateful_run(token, cpts_a, settings):
    from relais.regulation.models import Request

    settings.RELAIS_API_RATE_LIMIT = 1_000_000  # the fuzzer is one client calling fast

    ApiMachine.token = token
    f.commune("91174")
    ApiMachine.slots = [f.SlotFactory() for _ in range(6)]
    ApiMachine.request = Request.objects.first().public_id
    FUZZ_CALLS.update(calls=0, booked=0)
    FUZZ_CALLS["5xx"] = []
    run = ApiMachine.TestCase
    run.settings = hypothesis_settings(
        max_examples=STATEFUL_EXAMPLES,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    run().runTest()
    print(
        f"stateful API fuzz: {FUZZ_CALLS['calls']} calls, {FUZZ_CALLS['booked']} bookings made, "
        f"{len(FUZZ_CALLS['5xx'])} x 5xx"
    )
    assert FUZZ_CALLS["calls"] > 0 and not FUZZ_CALLS["5xx"]
