"""INT_R01 / INT_R04: the SAS guide's Slot searches, replayed and validated."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relais.agenda.models import Modality, SlotStatus
from relais.audit.models import AuditEvent
from tests import factories as f
from tests.interop.conftest import (
    RPPS_SYSTEM,
    bearer,
    by_type,
    make_token,
    validate,
    validate_bundle,
)

pytestmark = pytest.mark.django_db
IDENTIFIER_TYPE = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
TYPE_CRENEAU = "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"


def window() -> list[tuple[str, str]]:
    now = timezone.localtime()
    return [
        ("start", f"ge{now.isoformat(timespec='seconds')}"),
        ("start", f"le{(now + timedelta(hours=48)).isoformat(timespec='seconds')}"),
    ]


def sas_query(*rpps: str, extra=()) -> dict:
    """The guide's INT_R01 query (Django's test client encodes '+' and '|')."""
    params = window() + [
        ("schedule.actor:Practitioner.identifier", ",".join(f"{RPPS_SYSTEM}|8{x}" for x in rpps)),
        ("status", "free"),
        ("_include", "Slot:schedule"),
        ("_include:iterate", "Schedule:actor"),
        *extra,
    ]
    out: dict[str, list[str]] = {}
    for key, value in params:
        out.setdefault(key, []).append(value)
    return out


@pytest.fixture
def token(sas91):
    return make_token("slots:read")


def test_it_serves_a_valid_capability_statement(client):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    statement = validate(response.json())
    assert statement.fhirVersion == "4.0.1"
    assert {res.type for res in statement.rest[0].resource} >= {
        "Slot",
        "Schedule",
        "Practitioner",
        "Appointment",
    }


def test_it_refuses_a_search_without_token_with_an_operation_outcome(client, sas91):
    pro = f.ProfessionalFactory()
    response = client.get("/fhir/Slot", sas_query(pro.rpps))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    validate(response.json())
    assert client.get("/fhir/Slot", sas_query(pro.rpps), **bearer("rls_faux")).status_code == 401


def test_it_refuses_a_token_without_the_slots_scope(client, sas91):
    token = make_token("appointments:write")
    pro = f.ProfessionalFactory()
    response = client.get("/fhir/Slot", sas_query(pro.rpps), **bearer(token))
    assert response.status_code == 403
    assert validate(response.json()).issue[0].code == "forbidden"
    assert AuditEvent.objects.filter(api_client="plateforme-sas", reason__contains="403").exists()


def test_it_answers_the_guide_query_with_a_valid_searchset(client, cpts_a, token):
    pro = f.ProfessionalFactory(last_name="Martin")
    cabinet = f.SlotFactory(professional=pro)
    video = f.SlotFactory(
        professional=pro,
        start=cabinet.start + timedelta(hours=1),
        modality=Modality.TELECONSULTATION,
    )
    home = f.SlotFactory(
        professional=pro, start=cabinet.start + timedelta(hours=2), modality=Modality.VISITE
    )
    response = client.get("/fhir/Slot", sas_query(pro.rpps), **bearer(token))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = validate_bundle(response.json())
    assert bundle["type"] == "searchset" and bundle["total"] == 3
    slots = by_type(bundle, "Slot")
    assert [s["id"] for s in slots] == [str(x.public_id) for x in (cabinet, video, home)]
    assert [s["serviceType"][0]["coding"][0]["code"] for s in slots] == ["AMB", "VR", "HH"]
    first = slots[0]
    assert {"system": TYPE_CRENEAU, "code": "SNP"} in first["meta"]["security"]
    assert first["specialty"][0]["coding"][0]["code"] == "SM54"
    assert first["appointmentType"]["coding"][0]["code"] == "ROUTINE"
    # The signed, short-lived SAS booking link of this slot (tests/interop/test_regulators).
    from relais.interop.regulators import _slot_of_link

    link = first["comment"].removeprefix(__import__("django.conf").conf.settings.SITE_URL)
    assert link.startswith("/interop/sas/rdv/")
    assert _slot_of_link(link.split("/")[-2])[0] == cabinet
    schedules = by_type(bundle, "Schedule")
    assert len(schedules) == 1  # one place of consultation
    assert {a["reference"].split("/")[0] for a in schedules[0]["actor"]} == {
        "Practitioner",
        "PractitionerRole",
    }
    (practitioner,) = by_type(bundle, "Practitioner")
    assert practitioner["identifier"] == [
        {
            "type": {"coding": [{"system": IDENTIFIER_TYPE, "code": "IDNPS"}]},
            "system": RPPS_SYSTEM,
            "value": f"8{pro.rpps}",
        }
    ]
    (role,) = by_type(bundle, "PractitionerRole")
    assert role["contained"][0]["resourceType"] == "Location"
    assert role["location"] == [{"reference": "#loc"}]
    modes = [e["search"]["mode"] for e in bundle["entry"]]
    assert modes == ["match"] * 3 + ["include"] * 3
    assert AuditEvent.objects.filter(api_client="plateforme-sas", action="read").count() == 1


def test_it_offers_only_free_unheld_sas_slots_of_the_clients_territory(client, cpts_a, sas43):
    token = make_token("slots:read", sas_scope=[cpts_a.sas])
    pro = f.ProfessionalFactory()
    ok = f.SlotFactory(professional=pro)
    base = ok.start
    f.SlotFactory(professional=pro, start=base + timedelta(minutes=20), for_sas=False)
    f.SlotFactory(professional=pro, start=base + timedelta(minutes=40), status=SlotStatus.BOOKED)
    f.SlotFactory(
        professional=pro,
        start=base + timedelta(minutes=60),
        held_until=timezone.now() + timedelta(minutes=5),
    )
    f.SlotFactory(professional=pro, start=base + timedelta(hours=72))  # outside the window
    puy = f.ProfessionalFactory(practice_in="43157")
    f.SlotFactory(professional=puy)  # Haute-Loire: not this client's territory
    bundle = client.get("/fhir/Slot", sas_query(pro.rpps, puy.rpps), **bearer(token)).json()
    assert [s["id"] for s in by_type(bundle, "Slot")] == [str(ok.public_id)]


def test_it_accepts_repeated_identifier_parameters_and_plain_dates(client, cpts_a, token):
    a, b = f.ProfessionalFactory(), f.ProfessionalFactory()
    f.SlotFactory(professional=a)
    f.SlotFactory(professional=b)
    today = timezone.localdate()
    params = {
        "start": [f"ge{today}", f"le{today + timedelta(days=2)}"],
        "schedule.actor:Practitioner.identifier": [f"{RPPS_SYSTEM}|8{a.rpps}", f"8{b.rpps}"],
    }
    bundle = client.get("/fhir/Slot", params, **bearer(token)).json()
    assert bundle["total"] == 2
    assert by_type(bundle, "Schedule") == []  # no _include, no included resources


@pytest.mark.parametrize(
    "change",
    [
        {"start": []},
        {"start": ["ge2025-13-45"]},
        {"start": ["eq2025-01-01"]},
        {"schedule.actor:Practitioner.identifier": []},
        {"schedule.actor:Practitioner.identifier": [",".join(f"8{n:011d}" for n in range(26))]},
        {"status": ["busy"]},
    ],
)
def test_it_refuses_bad_parameters_with_a_400_operation_outcome(client, cpts_a, token, change):
    pro = f.ProfessionalFactory()
    params = sas_query(pro.rpps) | change
    response = client.get("/fhir/Slot", params, **bearer(token))
    assert response.status_code == 400, response.content
    outcome = validate(response.json())
    assert outcome.issue[0].severity == "error"


@pytest.mark.parametrize(
    "change",
    [
        {"schedule.actor:Practitioner.identifier": ["urn:oid:1.2.250.1.71.4.2.1|0123"]},
        {"schedule.actor:Practitioner.identifier": ["urn:autre|812345678901"]},
        {"_include": ["Slot:patient"]},
        {"specialty": ["SM54"]},
    ],
)
def test_it_ignores_what_it_does_not_know_with_a_warning_unless_strict(
    client, cpts_a, token, change
):
    pro = f.ProfessionalFactory()
    slot = f.SlotFactory(professional=pro)
    params = sas_query(pro.rpps) | change
    response = client.get("/fhir/Slot", params, **bearer(token))
    assert response.status_code == 200, response.content
    bundle = validate_bundle(response.json())
    (outcome,) = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["resource"]["issue"][0]["severity"] == "warning"
    if "schedule.actor:Practitioner.identifier" not in change:
        assert [s["id"] for s in by_type(bundle, "Slot")] == [str(slot.public_id)]
    strict = client.get("/fhir/Slot", params, HTTP_PREFER="handling=strict", **bearer(token))
    assert strict.status_code == 400
    assert validate(strict.json()).issue[0].severity == "error"


def test_one_bad_identifier_never_fails_the_rest_of_a_batch(client, cpts_a, token):
    """24 good RPPS, one ADELI (0-prefixed), one malformed, one unknown: the slots of the
    known ones, and a warning naming each of the others."""
    pros = [f.ProfessionalFactory() for _ in range(23)]
    for pro in pros:
        f.SlotFactory(professional=pro)
    adeli = f.ProfessionalFactory(adeli="911234567")
    f.SlotFactory(professional=adeli)
    ids = [f"{RPPS_SYSTEM}|8{p.rpps}" for p in pros] + [
        f"{RPPS_SYSTEM}|0911234567",
        f"{RPPS_SYSTEM}|8123",
    ]
    params = sas_query(pros[0].rpps) | {"schedule.actor:Practitioner.identifier": [",".join(ids)]}
    response = client.get("/fhir/Slot", params, **bearer(token))
    assert response.status_code == 200, response.content
    bundle = validate_bundle(response.json())
    assert bundle["total"] == 24
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome["issue"]) == 1 and "8123" in outcome["issue"][0]["diagnostics"]
    unknown = sas_query("99999999999")
    bundle = client.get("/fhir/Slot", unknown, **bearer(token)).json()
    assert bundle["total"] == 0
    (entry,) = bundle["entry"]  # no Slot: only the outcome, never "entry": []
    assert "899999999999" in entry["resource"]["issue"][0]["diagnostics"]


def test_it_accepts_25_rpps(client, cpts_a, token):
    pros = [f.ProfessionalFactory() for _ in range(25)]
    response = client.get("/fhir/Slot", sas_query(*(p.rpps for p in pros)), **bearer(token))
    assert response.status_code == 200


def test_it_answers_the_cpts_variant_with_healthcare_service_and_organization(
    client, cpts_a, token
):
    pro = f.ProfessionalFactory(cpts=cpts_a)
    sas_slot = f.SlotFactory(professional=pro)
    cpts_slot = f.SlotFactory(
        professional=pro, start=sas_slot.start + timedelta(hours=1), for_sas=False
    )
    extra = [
        ("_include", "Slot:service-type-reference"),
        ("_include:iterate", "HealthcareService:organization"),
    ]
    bundle = validate_bundle(
        client.get("/fhir/Slot", sas_query(pro.rpps, extra=extra), **bearer(token)).json()
    )
    slots = {s["id"]: s for s in by_type(bundle, "Slot")}
    assert set(slots) == {str(sas_slot.public_id), str(cpts_slot.public_id)}
    cpts_coded = slots[str(cpts_slot.public_id)]
    assert {"system": TYPE_CRENEAU, "code": "CPTS"} in cpts_coded["meta"]["security"]
    reference = cpts_coded["serviceType"][1]["extension"][0]["valueReference"]["reference"]
    assert reference == f"HealthcareService/hs-{cpts_a.pk}"
    (service,) = by_type(bundle, "HealthcareService")
    (org,) = by_type(bundle, "Organization")
    assert service["providedBy"]["reference"] == f"Organization/{org['id']}"
    assert org["identifier"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                        "code": "IDNST",
                    }
                ]
            },
            "system": "urn:oid:1.2.250.1.71.4.2.2",
            "value": f"1{cpts_a.finess}",
        }
    ]
    # Without the CPTS includes, the CPTS-only slot is not offered to the SAS.
    plain = client.get("/fhir/Slot", sas_query(pro.rpps), **bearer(token)).json()
    assert [s["id"] for s in by_type(plain, "Slot")] == [str(sas_slot.public_id)]


def test_it_refuses_other_methods_on_slot(client, token):
    response = client.post("/fhir/Slot", {}, **bearer(token))
    assert response.status_code == 405
    validate(response.json())


def test_it_rate_limits_a_client(client, cpts_a, token, settings, monkeypatch):
    from relais.interop import views

    monkeypatch.setattr(views, "RATE_LIMIT_PER_MINUTE", 2)
    pro = f.ProfessionalFactory()
    codes = [
        client.get("/fhir/Slot", sas_query(pro.rpps), **bearer(token)).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]
