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
