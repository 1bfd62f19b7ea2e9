"""hypothesis on the FHIR payloads: Appointment creations with random or mutated fields,
random content types and Accept headers, nested JSON and raw bytes. No call may answer
5xx; every refusal is an OperationOutcome. RELAIS_FUZZ_EXAMPLES sets the budget."""

import contextlib
import copy
import json
import os

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f
from tests.interop.conftest import bearer, make_token

EXAMPLES = int(os.environ.get("RELAIS_FUZZ_EXAMPLES", 100))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COUNTS = {"calls": 0, "5xx": 0, "created": 0}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.text(min_size=90, max_size=300),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
PATHS = [
    ("status",),
    ("identifier",),
    ("identifier", 0, "value"),
    ("identifier", 0, "system"),
    ("slot",),
    ("slot", 0, "reference"),
    ("contained",),
    ("contained", 0, "resourceType"),
    ("contained", 0, "id"),
    ("contained", 0, "name"),
    ("contained", 0, "name", 0, "family"),
    ("contained", 0, "name", 0, "given"),
    ("contained", 0, "birthDate"),
    ("contained", 0, "telecom", 0, "value"),
    ("contained", 0, "telecom", 1, "value"),
    ("contained", 0, "address", 0, "postalCode"),
    ("contained", 0, "address", 0, "city"),
    ("participant",),
    ("participant", 0, "actor", "reference"),
    ("reasonCode",),
    ("reasonCode", 0, "text"),
    ("description",),
    ("resourceType",),
]
CONTENT_TYPES = [
    "application/fhir+json",
    "application/json",
    "application/fhir+json; charset=utf-8",
    "application/json; charset=latin-1",
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "",
]
ACCEPTS = ["", "*/*", "application/fhir+json", "application/fhir+xml", "text/html", "x/y;q=0"]


def base_appointment(slot, ident: str) -> dict:
    return {
        "resourceType": "Appointment",
        "identifier": [{"system": "https://sas.sante.fr/rdv", "value": ident}],
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.public_id}"}],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "p1",
                "name": [{"family": "Fuzzé", "given": ["Hypo"]}],
                "birthDate": "1990-01-01",
                "telecom": [
                    {"system": "phone", "value": "+33639981234"},
                    {"system": "email", "value": "hypo@example.invalid"},
                ],
                "address": [{"postalCode": "91100", "city": "Corbeil-Essonnes"}],
            }
        ],
        "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}],
        "reasonCode": [{"coding": [{"system": "urn:oid:1.2.250.1.213.2.10", "code": "A03"}]}],
    }


def set_path(body, path, value):
    node = body
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return body
    with contextlib.suppress(IndexError, TypeError):
        node[path[-1]] = value
    return body


def call(client, headers, body: bytes, content_type: str, accept: str, method="POST"):
    extra = dict(headers)
    if accept:
        extra["HTTP_ACCEPT"] = accept
    response = client.generic(method, "/fhir/Appointment", body, content_type=content_type, **extra)
    COUNTS["calls"] += 1
    COUNTS["5xx"] += response.status_code >= 500
    COUNTS["created"] += response.status_code == 201
    assert response.status_code < 500, (content_type, body[:300], response.content[:300])
    if response.status_code >= 400:
        assert response.json()["resourceType"] == "OperationOutcome"
    return response


@pytest.fixture
def fhir(cpts_a, monkeypatch):
    monkeypatch.setattr("relais.interop.views.RATE_LIMIT_PER_MINUTE", 1_000_000)
    f.commune("91174")
    return Client(), bearer(make_token("slots:read,appointments:read,appointments:write"))


@pytest.mark.django_db
@FUZZ
@given(
    mutations=st.lists(st.tuples(st.sampled_from(PATHS), json_values), max_size=4),
    content_type=st.sampled_from(CONTENT_TYPES),
    accept=st.sampled_from(ACCEPTS),
    ident=st.text(min_size=1, max_size=80),
)
def test_it_never_answers_5xx_to_a_mutated_appointment(
    fhir, mutations, content_type, accept, ident
):
    client, headers = fhir
    body = base_appointment(f.SlotFactory(), ident)
    for path, value in mutations:
        body = set_path(copy.deepcopy(body), path, value)
    call(client, headers, json.dumps(body).encode(), content_type, accept)


@pytest.mark.django_db
@FUZZ
@given(
    raw=st.binary(max_size=300)
    | st.integers(1, 80).map(lambda n: ("[" * n + "]" * n).encode())
    | st.integers(1, 80).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode())
    | json_values.map(lambda v: json.dumps(v).encode()),
    content_type=st.sampled_from(CONTENT_TYPES),
    method=st.sampled_from(["POST", "PUT"]),
)
def test_it_never_answers_5xx_to_raw_bodies(fhir, raw, content_type, method):
    client, headers = fhir
    call(client, headers, raw, content_type, "", method=method)


def test_zz_report_the_fuzz_counts():
    """Printed with -s: the calls made by the two fuzz tests above in this run."""
    print(f"FHIR fuzz: {COUNTS['calls']} calls, {COUNTS['created']} created, {COUNTS['5xx']} x 5xx")
    assert COUNTS["5xx"] == 0
