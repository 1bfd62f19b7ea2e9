"""INT_R02: regulator accounts from the SAS platform (the IG's four examples), and the
signed deep link of Slot.comment that lets such a regulator book one slot."""

import json
import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import OctKey

from relais.accounts.services import api_client_create
from relais.audit.models import AuditEvent
from relais.interop import regulator_links, regulators
from relais.interop.models import RegulatorAccount, SasReport
from relais.orientation.models import Booking
from tests import factories as f
from tests.interop.conftest import bearer, validate

pytestmark = pytest.mark.django_db
KEY = "k" * 40
NATIONAL = "urn:oid:1.2.250.1.71.4.2.1"
SAS_ID = "urn:oid:1.2.250.1.213.3.6"
IDTYPE = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"


def example(n: int) -> dict:
    """The IG's ExamplePractitionerRegul1..4 (input/fsh/examples), as JSON."""
    national = {
        1: ("3456780581/11242343", True, "Loridon", "Sébastien", "sebastien.loridon@test.com"),
        2: ("810002673899", True, "MARIUS", "Jules", "jules.marius@test.com"),
        3: ("810002673899", False, "MARIUS", "Jules", "jules.marius@test.com"),
    }
    if n == 4:
        identifier = {"system": SAS_ID, "value": "1ef1c748-01a3-6180-b098-73283ce4e5b1"}
        active, family, given, email = True, "Loridon", "Sébastien", "sebastien.loridon@test.com"
    else:
        value, active, family, given, email = national[n]
        identifier = {
            "type": {"coding": [{"system": IDTYPE, "code": "IDNPS"}]},
            "system": NATIONAL,
            "value": value,
        }
    return {
        "resourceType": "Practitioner",
        "meta": {"source": SAS_ID},
        "identifier": [identifier],
        "active": active,
        "name": [{"family": family, "given": [given]}],
        "telecom": [{"system": "email", "value": email}],
    }


@pytest.fixture
def platform(sas91):
    client, token = api_client_create(name="plateforme-sas", scopes=["regulators:write"])
    return client, token


def post(client, token, body, query=""):
    return client.post(
        f"/fhir/Practitioner{query}",
        json.dumps(body),
        content_type="application/fhir+json",
        **bearer(token),
    )


def put(client, token, body, identifier):
    return client.put(
        f"/fhir/Practitioner?identifier={identifier.replace('|', '%7C')}",
        json.dumps(body),
        content_type="application/fhir+json",
        **bearer(token),
    )


def test_it_creates_a_regulator_account_from_the_guide_example(client, platform):
    _, token = platform
    response = post(client, token, example(1))
    assert response.status_code == 201
    body = validate(response.json())
    assert response["Location"].endswith(f"/fhir/Practitioner/{body.id}")
    account = RegulatorAccount.objects.get()
    assert account.national_id == "3456780581/11242343" and account.active
    assert account.user.last_name == "Loridon" and account.user.email.startswith("sebastien")
    assert not account.user.has_usable_password()
    assert not account.user.memberships.exists()  # no door but the platform's link
    assert body.identifier[0].type.coding[0].code == "IDNPS"
    assert AuditEvent.objects.filter(
        api_client="plateforme-sas", action="create", object_type="interop.regulatoraccount"
    ).exists()
    # The platform re-sends the account at the regulator's next login: updated, not doubled.
    again = post(client, token, example(1))
    assert again.status_code == 200 and RegulatorAccount.objects.count() == 1


def test_it_updates_deactivates_and_creates_by_conditional_put(client, platform):
    _, token = platform
    assert post(client, token, example(2)).status_code == 201
    # Example 3: the same regulator, habilitation withdrawn (the IG's "suppression").
    response = put(client, token, example(3), f"{NATIONAL}|810002673899")
    assert response.status_code == 200 and response.json()["active"] is False
    account = RegulatorAccount.objects.get(national_id="810002673899")
    assert not account.active and not account.user.is_active
    # Example 4: unknown SAS technical id, the PUT creates (idempotent, as the IG asks).
    technical = "1ef1c748-01a3-6180-b098-73283ce4e5b1"
    response = put(client, token, example(4), f"{SAS_ID}|{technical}")
    assert response.status_code == 201
    # Later, the national id is attached to that account by an update.
    attached = example(4)
    attached["identifier"].append(example(1)["identifier"][0])
    response = put(client, token, attached, f"{SAS_ID}|{technical}")
    assert response.status_code == 200
    account = RegulatorAccount.objects.get(technical_id=technical)
    assert account.national_id == "3456780581/11242343"
    assert RegulatorAccount.objects.count() == 2
    # The spelling `?Identifier=` of an IG page works too.
    response = client.put(
        f"/fhir/Practitioner?Identifier={SAS_ID}%7C{technical}",
        json.dumps(attached),
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert response.status_code == 200


def test_it_deactivates_on_delete(client, platform):
    _, token = platform
    post(client, token, example(1))
    response = client.delete(
        f"/fhir/Practitioner?identifier={NATIONAL}%7C3456780581/11242343", **bearer(token)
    )
    assert response.status_code == 204
    assert not RegulatorAccount.objects.get().active
    missing = client.delete(f"/fhir/Practitioner?identifier={NATIONAL}%7C999", **bearer(token))
    assert missing.status_code == 404 and validate(missing.json())
    assert AuditEvent.objects.filter(action="delete", reason__startswith="204").exists()


@pytest.mark.parametrize(
    ("mutate", "status", "words"),
    [
        (lambda b: b.update(resourceType="Patient"), 400, "resourceType"),
        (lambda b: b.pop("name"), 400, "name.family"),
        (lambda b: b.update(telecom=[]), 400, "e-mail"),
        (lambda b: b.update(telecom=[{"system": "email", "value": "pas-un-mail"}]), 400, "e-mail"),
        (lambda b: b.update(active="oui"), 400, "active"),
        (
            lambda b: b.update(identifier=[{"system": "urn:autre", "value": "1"}]),
            400,
            "identifiant",
        ),
        (lambda b: b.update(identifier="x"), 400, "identifier"),
        (lambda b: b["meta"].update(source="urn:ailleurs"), 400, "meta.source"),
    ],
)
def test_it_refuses_a_malformed_practitioner_and_writes_nothing(
    client, platform, mutate, status, words
):
    _, token = platform
    body = example(1)
    mutate(body)
    response = post(client, token, body)
    assert response.status_code == status
    outcome = validate(response.json())
    assert words in outcome.issue[0].diagnostics
    assert not RegulatorAccount.objects.exists()


def test_it_refuses_bad_requests_with_operation_outcomes(client, platform, sas91):
    _, token = platform
    fhir = "application/fhir+json"
    cases = [
        client.post("/fhir/Practitioner", "{", content_type=fhir, **bearer(token)),
        client.post("/fhir/Practitioner", "[]", content_type=fhir, **bearer(token)),
        client.post("/fhir/Practitioner", "a=b", content_type="text/plain", **bearer(token)),
        client.put(
            "/fhir/Practitioner", json.dumps(example(1)), content_type=fhir, **bearer(token)
        ),
        put(client, token, example(1), "urn:autre|1"),
        post(client, token, example(1), query="?identifier=x"),
        post(client, "rls_faux", example(1)),
    ]
    assert [r.status_code for r in cases] == [400, 400, 415, 400, 400, 400, 401]
    for response in cases:
        assert response.json()["resourceType"] == "OperationOutcome"
    _, other = api_client_create(name="lecteur", scopes=["slots:read"])
    assert post(client, other, example(1)).status_code == 403
    assert client.get("/fhir/Practitioner", **bearer(token)).status_code == 405
    assert not RegulatorAccount.objects.exists()


def test_it_keeps_one_client_off_another_clients_accounts(client, platform):
    _, token = platform
    post(client, token, example(1))
    _, intruder = api_client_create(name="autre-plateforme", scopes=["regulators:write"])
    response = put(
        client,
        intruder,
        example(3) | {"identifier": example(1)["identifier"]},
        f"{NATIONAL}|3456780581/11242343",
    )
    assert response.status_code == 403
    assert RegulatorAccount.objects.get().active  # fmt: skip


# --- The deep link ----------------------------------------------------------------------


@pytest.fixture
def regulator(platform):
    client, _ = platform
    data = regulators.parse_practitioner(example(1))
    account, _ = regulators.regulator_upsert(client=client, data=data)
    return account


@pytest.fixture
def slot(cpts_a):
    return f.SlotFactory(professional=f.ProfessionalFactory(cpts=cpts_a), for_sas=True)


def assertion(settings, *, sub=f"{NATIONAL}|3456780581/11242343", key=KEY, **claims):
    now = int(time.time())
    payload = {
        "iss": SAS_ID,
        "aud": settings.SITE_URL,
        "sub": sub,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode({"alg": "HS256"}, payload, OctKey.import_key(key))


def link_path(slot) -> str:
    return regulator_links.sas_deep_link(slot).removeprefix(django_settings.SITE_URL)


def test_it_books_the_slot_for_a_regulator_arriving_from_the_platform(
    client, settings, regulator, slot
):
    settings.RELAIS_SAS_LINK_KEY = KEY
    settings.RELAIS_SAS_FHIR_URL = "https://sas.example/fhir"  # reports queued, not sent
    path = link_path(slot)
    arrival = client.get(path, {"origin": "sas", "assertion": assertion(settings)})
    assert arrival.status_code == 302 and arrival["Location"] == path  # assertion dropped
    page = client.get(path)
    assert page.status_code == 200
    assert "Réserver ce créneau" in page.content.decode()
    # The session is not a Relais login: the rest of Relais still asks for one.
    assert client.get("/demandes/").status_code == 302
    response = client.post(
        path,
        {
            "last_name": "Durand",
            "first_name": "Lucie",
            "birth_date": "1980-02-03",
            "phone": "06 39 98 12 34",
            "motif_text": "fièvre",
            "accept_terms": "on",
        },
    )
    assert response.status_code == 200, response.content.decode()
    assert "Rendez-vous confirmé" in response.content.decode()
    booking = Booking.objects.get(slot=slot)
    assert booking.operator == regulator.user
    # INT_R03 names the platform's regulator as the operator (FrAppointmentOperator).
    report = SasReport.objects.get(booking=booking)
    assert "3456780581/11242343" in json.dumps(report.payload)
    validate(report.payload)
    slot.refresh_from_db()
    assert slot.status == "booked"
    regulator.refresh_from_db()
    assert regulator.terms_accepted_at is not None
    # One booking per link: the session is over.
    assert client.get(path).status_code == 302
    assert client.post(path, {"last_name": "X"}).status_code == 302


def test_it_asks_the_terms_at_the_first_booking_only(client, settings, regulator, slot):
    settings.RELAIS_SAS_LINK_KEY = KEY
    path = link_path(slot)
    client.get(path, {"origin": "sas", "assertion": assertion(settings)})
    fields = {"last_name": "Durand", "first_name": "Lucie", "phone": "0639981234"}
    refused = client.post(path, fields)
    assert "Acceptez les conditions" in refused.content.decode()
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    "make",
    [
        lambda s: assertion(s, key="x" * 40),  # not the platform's key
        lambda s: assertion(s, iss="urn:ailleurs"),
        lambda s: assertion(s, aud="https://autre.example"),
        lambda s: assertion(s, exp=int(time.time()) - 60),  # expired
        lambda s: assertion(s, exp=int(time.time()) + 3600),  # lives too long
        lambda s: assertion(s, sub=f"{NATIONAL}|inconnu"),
        lambda s: assertion(s, slot=str(uuid.uuid4())),  # for another slot
        lambda s: "pas-un-jwt",
    ],
)
def test_it_refuses_an_assertion_that_is_not_the_platforms(client, settings, regulator, slot, make):
    settings.RELAIS_SAS_LINK_KEY = KEY
    path = link_path(slot)
    response = client.get(path, {"origin": "sas", "assertion": make(settings)})
    assert response.status_code == 403
    assert "Accès refusé" in response.content.decode()
    assert client.get(path).status_code == 302  # no session was opened


def test_it_refuses_a_replayed_assertion_and_a_withdrawn_account(
    client, settings, regulator, slot, platform
):
    settings.RELAIS_SAS_LINK_KEY = KEY
    path = link_path(slot)
    once = assertion(settings)
    assert client.get(path, {"origin": "sas", "assertion": once}).status_code == 302
    assert client.get(path, {"origin": "sas", "assertion": once}).status_code == 403
    regulators.regulator_deactivate(client=platform[0], lookup=(NATIONAL, "3456780581/11242343"))
    assert client.get(path).status_code == 302  # the open session stops too
    assert client.get(path, {"origin": "sas", "assertion": assertion(settings)}).status_code == 403


def test_it_sends_staff_to_the_login_then_the_slot_page(client, settings, slot, olivia):
    settings.RELAIS_SAS_LINK_KEY = KEY
    path = link_path(slot)
    anonymous = client.get(path, {"origin": "sas"})
    assert anonymous.status_code == 302
    assert f"/interop/creneaux/{slot.public_id}/" in anonymous["Location"]
    assert "/connexion/" in client.get(anonymous["Location"])["Location"]
    client.force_login(olivia)
    page = client.get(client.get(path)["Location"])
    assert page.status_code == 200 and slot.professional.display_name in page.content.decode()


def test_it_refuses_a_tampered_or_expired_link(client, settings, slot):
    path = link_path(slot)
    assert client.get(path[:-3] + "xx/").status_code == 404
    with time_machine.travel(
        timezone.now() + timedelta(minutes=settings.RELAIS_SAS_LINK_MINUTES + 1)
    ):
        response = client.get(path)
    assert response.status_code == 410 and "Lien expiré" in response.content.decode()


def test_it_refuses_everything_when_no_key_is_configured(client, settings, regulator, slot):
    settings.RELAIS_SAS_LINK_KEY = ""
    path = link_path(slot)
    assert client.get(path, {"origin": "sas", "assertion": assertion(settings)}).status_code == 403


def test_the_cached_link_path_is_what_reverse_gives(slot):
    """sas_deep_link resolves the link's path once (reverse() cost 0.22 ms a slot): for
    real tokens, which carry ':' and '-' / '_', the result is reverse()'s to the byte."""
    from django.core import signing
    from django.urls import reverse

    for value in (str(slot.public_id), "x" * 50, "é/?#"):
        token = signing.dumps(value, salt=regulator_links.LINK_SALT)
        assert regulator_links._link_path(token) == reverse("interop:sas_slot_link", args=[token])
    link = regulator_links.sas_deep_link(slot)
    token = link.split("/sas/rdv/")[1].rstrip("/")
    assert signing.loads(token, salt=regulator_links.LINK_SALT) == str(slot.public_id)
