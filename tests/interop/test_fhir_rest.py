"""FHIR REST hygiene (issue 16, item 7) and what a professional hid (item 2)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories as f
from tests.interop.conftest import bearer, by_type, make_token, validate
from tests.interop.test_fhir_slots import sas_query

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(sas91):
    return make_token("slots:read,appointments:read,appointments:write")


def test_every_error_under_fhir_is_an_operation_outcome(client, cpts_a, token):
    cases = [
        (client.get("/fhir/Inconnu/1"), 404),
        (client.get("/fhir/Slot/pas-un-uuid", **bearer(token)), 404),
        (client.get("/fhir/Appointment/inconnu", **bearer(token)), 404),
        (client.delete("/fhir/Slot", **bearer(token)), 405),
        (client.get("/fhir/metadata", HTTP_ACCEPT="application/fhir+xml"), 406),
        (client.get("/fhir/Slot", HTTP_ACCEPT="application/xml", **bearer(token)), 406),
        (client.get("/fhir/metadata?_format=xml"), 406),
        (
            client.post(
                "/fhir/Appointment", "<x/>", content_type="application/xml", **bearer(token)
            ),
            415,
        ),
        (client.get("/fhir/bulk/Inconnu.ndjson"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.content[:200]
        assert response["Content-Type"].startswith("application/fhir+json")
        assert response.json()["resourceType"] == "OperationOutcome"
        validate(response.json())
    ok = client.get("/fhir/metadata", HTTP_ACCEPT="application/fhir+json;q=1, */*;q=0.1")
    assert ok.status_code == 200


def test_it_reads_a_slot_schedule_and_practitioner_by_id(client, cpts_a, sas43, token):
    slot = f.SlotFactory()
    bundle = client.get("/fhir/Slot", sas_query(slot.professional.rpps), **bearer(token)).json()
    for kind in ("Slot", "Schedule", "Practitioner"):
        (resource,) = by_type(bundle, kind)
        read = client.get(f"/fhir/{kind}/{resource['id']}", **bearer(token))
        assert read.status_code == 200
        assert read.json()["id"] == resource["id"]
    puy = f.SlotFactory(professional=f.ProfessionalFactory(practice_in="43157"))
    other = make_token("slots:read", name="autre", sas_scope=[cpts_a.sas])
    assert client.get(f"/fhir/Slot/{puy.public_id}", **bearer(other)).status_code == 404


def test_nothing_the_professional_hid_is_published(client, cpts_a, token):
    shown = f.ProfessionalFactory()
    level2 = f.ProfessionalFactory(level2_only=True, sas_participant=False)
    not_sas = f.ProfessionalFactory(sas_participant=False)
    full = f.ProfessionalFactory(max_snp_per_day=1)
    start = timezone.now() + timedelta(hours=3)
    visible = f.SlotFactory(professional=shown, start=start)
    f.SlotFactory(professional=shown, start=start + timedelta(hours=1), age_min=70)
    f.SlotFactory(professional=level2, start=start)
    f.SlotFactory(professional=not_sas, start=start, for_cpts=False)  # SNP only: opted out
    booked = f.SlotFactory(professional=full, start=start)
    f.SlotFactory(professional=full, start=start + timedelta(minutes=30))
    from relais.orientation.services import booking_create

    booking_create(request=f.RequestFactory(), slot=booked)
    # Plage: three places, one Slot WALKIN.
    for place in range(3):
        f.SlotFactory(
            professional=shown,
            start=start + timedelta(hours=2),
            end=start + timedelta(hours=3),
            is_plage=True,
            place=place,
        )
    rpps = [p.rpps for p in (shown, level2, not_sas, full)]
    bundle = client.get("/fhir/Slot", sas_query(*rpps), **bearer(token)).json()
    slots = by_type(bundle, "Slot")
    assert [s["id"] for s in slots][0] == str(visible.public_id)
    assert len(slots) == 2
    assert slots[1]["appointmentType"]["coding"][0]["code"] == "WALKIN"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{" + b" " * (10 * 1024 * 1024) + b"}", 413),  # 10 MB
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400),  # deep nesting
        (b'{"resourceType": "Appointment", "id": "\xff\xfe"}', 400),  # invalid UTF-8
    ],
)
def test_a_bad_body_is_a_4xx_operation_outcome_and_writes_nothing(
    client, cpts_a, token, body, status
):
    from relais.orientation.models import Booking

    response = client.generic(
        "POST", "/fhir/Appointment", body, content_type="application/fhir+json", **bearer(token)
    )
    assert response.status_code == status, response.content[:200]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not Booking.objects.exists()


def _served_interactions() -> dict[str, set[str]]:
    """(resource type -> FHIR interactions) as the URLconf under /fhir/ serves them, read
    from each view's method table (fhir_endpoint's actions)."""
    from django.urls import URLPattern, URLResolver

    from relais.interop import urls

    def patterns(items, prefix=""):
        for item in items:
            if isinstance(item, URLResolver):
                yield from patterns(item.url_patterns, prefix + str(item.pattern))
            elif isinstance(item, URLPattern):
                yield prefix + str(item.pattern), item.callback

    served: dict[str, set[str]] = {}
    for route, view in patterns(urls.urlpatterns):
        head, _, rest = route.partition("/")
        if not head[:1].isupper():  # metadata, $bulk-publish, bulk files, the catch-all
            continue
        methods = view.fhir_actions  # every FHIR resource route is a fhir_endpoint
        if rest:
            assert rest == "<str:resource_id>", route
            codes = {"read"} if "GET" in methods else set()
            assert set(methods) == {"GET"}, route
        else:
            by_method = {"GET": "search-type", "POST": "create", "PUT": "update"}
            codes = {by_method.get(m, m.lower()) for m in methods}
        served.setdefault(head, set()).update(codes)
    return served


def test_the_capability_statement_lists_exactly_what_the_urlconf_serves(client):
    statement = client.get("/fhir/metadata").json()
    listed = {
        res["type"]: {i["code"] for i in res["interaction"]}
        for res in statement["rest"][0]["resource"]
    }
    served = _served_interactions()
    assert served["Practitioner"] == {"read", "create", "update", "delete"}  # INT_R02 there
    assert listed == served
    practitioner = next(
        res for res in statement["rest"][0]["resource"] if res["type"] == "Practitioner"
    )
    assert practitioner["supportedProfile"] == [
        "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/FrPractitionerRegul"
    ]
    assert practitioner["conditionalDelete"] == "single"
    validate(statement)


def test_a_method_the_statement_does_not_list_is_refused_405(client, token):
    # DELETE Appointment is not listed: the server says so, with what it allows.
    response = client.delete("/fhir/Appointment?identifier=x", **bearer(token))
    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) == {"GET", "POST", "PUT"}
    validate(response.json())
