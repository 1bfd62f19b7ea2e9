"""The lean INT_R01 search (relais.interop.slot_bundle) answers exactly what the search
it replaced answered (tests/interop/lean_reference.py, model objects and the
per-resource builders): on generated data covering every visibility rule (channels,
SAS participation, niveau 2 only, inactive, age and motif restrictions, holds, plages,
SNP caps reached, partner mirrors, several places and CPTS, territory, CPTS-limited
clients, ADELI, unknown and malformed identifiers), for every include set the IG uses.
Both readings are compared: PostgreSQL's statements and the portable ORM one."""

import json
import random
from datetime import timedelta

import orjson
import pytest
import time_machine
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.http import QueryDict
from django.utils import timezone

from relais.accounts.models import ApiClient
from relais.accounts.permissions import scope_for_api_client
from relais.agenda.models import AvailabilityRule, Modality, Slot, SlotStatus
from relais.core.errors import ApplicationError
from relais.directory.models import Practice, Profession
from relais.interop import selectors, slot_bundle
from relais.interop.models import PartnerSlot, PartnerSource
from relais.interop.regulator_links import LINK_SALT
from relais.regulation.models import Motif
from tests import factories as f
from tests.interop import lean_reference
from tests.interop.conftest import RPPS_SYSTEM, bearer, make_token

pytestmark = pytest.mark.django_db
INCLUDES = {
    "kit": [
        ("_include", "Slot:schedule"),
        ("_include", "Slot:service-type-reference"),
        ("_include:iterate", "Schedule:actor"),
        ("_include:iterate", "HealthcareService:organization"),
    ],
    "cpts-without-organization": [
        ("_include", "Slot:schedule"),
        ("_include", "Slot:service-type-reference"),
        ("_include:iterate", "Schedule:actor"),
    ],
    "guide": [("_include", "Slot:schedule"), ("_include:iterate", "Schedule:actor")],
    "practitioner-only": [
        ("_include", "Slot:schedule"),
        ("_include:iterate", "Schedule:actor:Practitioner"),
    ],
    "role-only": [
        ("_include", "Slot:schedule"),
        ("_include:iterate", "Schedule:actor:PractitionerRole"),
    ],
    "schedule-only": [("_include", "Slot:schedule")],
    "cpts-only": [("_include", "Slot:service-type-reference")],
    "none": [],
}
PHONES = ["0639980000", "", "01 99 00 00 00", "0262123456", "+33612345678", "12"]


def _generate(rng: random.Random, cpts_91, cpts_43, motif_rule_for):
    """Professionals and slots drawn at random: every flag the search reads varies."""
    from relais.orientation.services import booking_create

    now = timezone.now()
    source = PartnerSource.objects.create(name="agenda-partenaire", base_url="https://p.test/fhir")
    pros = []
    for index in range(16):
        home = rng.choice(["91228", "91174", "91223", "43157"])
        pro = f.ProfessionalFactory(
            practice_in=home,
            sas_participant=rng.random() < 0.7,
            level2_only=rng.random() < 0.1,
            active=rng.random() < 0.9,
            adeli=f"{index:09d}" if rng.random() < 0.3 else "",
            profession=rng.choice([Profession.MEDECIN, Profession.INFIRMIER]),
            specialty=rng.choice(["", "SM54", "SM26"]),
            phone=rng.choice(PHONES),
            cpts=rng.choice([None, *cpts_91, cpts_43]),
            max_snp_per_day=rng.choice([None, None, None, 1]),
            max_snp_per_week=rng.choice([None, None, None, 2]),
        )
        for extra in rng.sample([*cpts_91, cpts_43], rng.choice([0, 0, 1, 2])):
            pro.other_cpts.add(extra)
        for _ in range(rng.choice([0, 0, 1, 2])):  # more places, some in another département
            where = f.commune(rng.choice(["91549", "91377", "43137"]))
            practice = Practice.objects.create(
                name=f"Maison de santé {pro.last_name} {_}",
                address=rng.choice(["", "3 rue des Lilas"]),
                commune=where,
                latitude=where.latitude,
                longitude=where.longitude,
                phone=rng.choice(PHONES),
            )
            practice.professionals.add(pro)
        pros.append(pro)
    for pro in pros:
        places = list(pro.practices.all())
        if rng.random() < 0.15:  # a slot at a place the professional is not linked to
            places.append(Practice.objects.exclude(professionals=pro).first())
        for _ in range(rng.randint(3, 9)):
            start = now + timedelta(minutes=15 * rng.randint(-8, 200))
            end = start + timedelta(minutes=rng.choice([15, 20, 60]))
            plage = rng.random() < 0.15
            common = {
                "professional": pro,
                "practice": rng.choice(places),
                "start": start,
                "end": end,
                "modality": rng.choice(list(Modality)),
                "status": rng.choice([SlotStatus.FREE] * 8 + [SlotStatus.BOOKED]),
                "for_sas": rng.random() < 0.8,
                "for_cpts": rng.random() < 0.6,
                "for_public": rng.random() < 0.3,
                "for_partners": rng.random() < 0.3,
                "is_plage": plage,
                "held_until": rng.choice(
                    [None, None, None, now - timedelta(minutes=5), now + timedelta(minutes=5)]
                ),
                "age_min": rng.choice([None] * 9 + [70]),
                "rule": motif_rule_for(pro) if rng.random() < 0.1 else None,
            }
            if rng.random() < 0.1:
                common["source"] = source.name
            if Slot.objects.filter(professional=pro, start=start).exists():
                continue
            for place in range(rng.choice([2, 3]) if plage else 1):
                slot = f.SlotFactory(place=place, **common)
                if slot.source and place == 0:
                    PartnerSlot.objects.create(
                        slot=slot,
                        source=source,
                        deep_link=rng.choice(["", f"https://p.test/rdv/{slot.public_id}"]),
                    )
        if pro.max_snp_per_day or pro.max_snp_per_week:  # bookings toward the cap
            for slot in pro.slots.filter(status=SlotStatus.FREE, start__gt=now, source="")[:2]:
                if slot.held_until is None:
                    try:
                        booking_create(request=f.RequestFactory(), slot=slot)
                    except ApplicationError:  # the cap is reached already: what we want
                        break
    return pros


def _params(pros, rng: random.Random, includes) -> QueryDict:
    now = timezone.localtime()
    identifiers = []
    for pro in pros:
        if pro.adeli and rng.random() < 0.5:
            identifiers.append(f"0{pro.adeli}")
        else:
            identifiers.append(f"{RPPS_SYSTEM}|8{pro.rpps}")
    identifiers += [f"{RPPS_SYSTEM}|899999999999", "0123456789", "pas-un-identifiant"]
    rng.shuffle(identifiers)
    query = QueryDict(mutable=True)
    for key, value in [
        ("start", f"ge{now.isoformat(timespec='milliseconds')}"),
        ("start", f"le{(now + timedelta(hours=48)).isoformat(timespec='milliseconds')}"),
        ("status", "free"),
        ("schedule.actor:Practitioner.identifier", ",".join(identifiers[:25])),
        *includes,
    ]:
        query.appendlist(key, value)
    return query


def _normalised(bundle: dict, serialised: bytes) -> dict:
    """The answer as its client reads it (the serialised bytes), without what differs
    from one call to the next: the Bundle's timestamp and the outcome entry's urn:uuid."""
    out = json.loads(serialised)
    assert out == json.loads(json.dumps(bundle, cls=DjangoJSONEncoder))
    out.pop("timestamp")
    for entry in out.get("entry", []):
        if entry["search"]["mode"] == "outcome":
            assert entry["fullUrl"].startswith("urn:uuid:")
            entry["fullUrl"] = "urn:uuid:…"
    return out


@pytest.fixture
def world(sas91, sas43):
    cpts_91 = [f.CptsFactory(sas=sas91, phone=p) for p in ("0169000000", "")]
    cpts_43 = f.CptsFactory(sas=sas43, name="CPTS du Velay", finess="430000001")
    motif = Motif.objects.first()

    def motif_rule_for(pro):
        from datetime import time

        rule = AvailabilityRule.objects.create(
            professional=pro,
            practice=pro.practices.first(),
            weekdays=[0, 1, 2, 3, 4, 5, 6],
            start_time=time(8),
            end_time=time(20),
        )
        rule.motifs.set([motif])
        return rule

    national = ApiClient.objects.get(pk=_client("national"))
    essonne = ApiClient.objects.get(pk=_client("essonne", sas_scope=[sas91]))
    limited = ApiClient.objects.get(pk=_client("cpts", cpts_scope=[cpts_91[0]]))
    return {
        "cpts_91": cpts_91,
        "cpts_43": cpts_43,
        "motif_rule_for": motif_rule_for,
        "clients": [national, essonne, limited],
    }


def _client(name, sas_scope=(), cpts_scope=()) -> int:
    from relais.accounts.services import api_client_create

    client, _ = api_client_create(name=name, scopes=["slots:read"])
    client.sas_scope.add(*sas_scope)
    client.cpts_scope.add(*cpts_scope)
    return client.pk


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_lean_search_answers_what_the_old_one_answered(world, seed):
    rng = random.Random(seed)
    with time_machine.travel(timezone.now(), tick=False):
        pros = _generate(rng, world["cpts_91"], world["cpts_43"], world["motif_rule_for"])
        compared = slots_seen = 0
        kinds_seen: set[str] = set()
        for client in world["clients"]:
            scope = scope_for_api_client(client)
            for name, includes in INCLUDES.items():
                params = _params(pros, rng, includes)
                query = selectors.parse_slot_query(params)
                url = "http://testserver/fhir/Slot?" + params.urlencode()
                old = lean_reference.slot_search_bundle(
                    query=query,
                    slots=lean_reference.fhir_slots(query=query, scope=scope),
                    self_url=url,
                )
                expected = _normalised(old, json.dumps(old, cls=DjangoJSONEncoder).encode())
                for portable in (False, True):
                    new, total = slot_bundle.slot_search(
                        query=query, scope=scope, self_url=url, portable=portable
                    )
                    got = _normalised(new, slot_bundle.dumps(new))
                    assert total == old["total"]
                    assert got == expected, (client.name, name, portable)
                    # Same JSON modulo order too (the entries as a set of texts).
                    texts = sorted(
                        orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for e in got.get("entry", [])
                    )
                    assert texts == sorted(
                        orjson.dumps(e, option=orjson.OPT_SORT_KEYS)
                        for e in expected.get("entry", [])
                    )
                    compared += 1
                slots_seen += old["total"]
                kinds_seen |= {e["resource"]["resourceType"] for e in old.get("entry", [])}
    # The generated data did exercise the search: slots, every included kind, warnings.
    assert compared == 2 * len(INCLUDES) * len(world["clients"])
    assert slots_seen > 20
    assert kinds_seen >= {
        "Slot",
        "Schedule",
        "Practitioner",
        "PractitionerRole",
        "HealthcareService",
        "Organization",
        "OperationOutcome",
    }


def test_the_signed_links_are_the_ones_the_landing_page_accepts(world):
    with time_machine.travel(timezone.now(), tick=False):
        pro = f.ProfessionalFactory()
        slot = f.SlotFactory(professional=pro)
        from relais.interop.regulator_links import sas_deep_link

        link = slot_bundle._LinkSigner().link(str(slot.public_id))
        assert link == sas_deep_link(slot)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert signing.loads(token, salt=LINK_SALT) == str(slot.public_id)


def test_the_endpoint_serves_the_lean_bundle(client, world):
    """Through HTTP: orjson bytes, FHIR content type, the same Bundle as the old search."""
    rng = random.Random(7)
    token = make_token("slots:read", name="plateforme-sas")
    scope = scope_for_api_client(ApiClient.objects.get(name="plateforme-sas"))
    with time_machine.travel(timezone.now(), tick=False):
        pros = _generate(rng, world["cpts_91"], world["cpts_43"], world["motif_rule_for"])
        params = _params(pros, rng, INCLUDES["kit"])
        response = client.get("/fhir/Slot?" + params.urlencode(), **bearer(token))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
        query = selectors.parse_slot_query(params)
        old = lean_reference.slot_search_bundle(
            query=query,
            slots=lean_reference.fhir_slots(query=query, scope=scope),
            self_url="http://testserver/fhir/Slot?" + params.urlencode(),
        )
    got = _normalised(json.loads(response.content), response.content)
    expected = _normalised(old, json.dumps(old, cls=DjangoJSONEncoder).encode())
    assert got == expected
    assert got["total"] > 0
