"""The ANS SAS test kit's aggregation checks (INT_R01 and the CPTS variant INT_R04),
replayed on our /fhir/Slot answers for fixtures shaped like the kit's cases: one
professional with one place, one with two places, two professionals in one search, the
optional fields, the slot and consultation types, a professional in two CPTS (two slots,
and one slot seen by both CPTS), the CPTS's optional fields. One pytest test per kit check
(44), named after the kit's test id; see kit.py for the two dialect adaptations."""

import contextlib
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from relais.agenda.models import Modality
from relais.directory.models import Practice
from tests import factories as f
from tests.interop.conformance import kit
from tests.interop.conftest import bearer, make_token

pytestmark = pytest.mark.django_db


def _search(client, pros, **declared) -> kit.Ctx:
    """The kit's slot_search_setup: GET Slot, 200, a Bundle, not empty."""
    token = make_token("slots:read")
    idnps = [f"8{p.rpps}" for p in pros]
    dates = kit.date_range()
    query = "/fhir/Slot?" + urlencode(kit.slot_search_params(idnps, dates))
    response = client.get(query, **bearer(token))
    assert response.status_code == 200, response.content[:300]
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle.get("entry"), "Le Bundle est vide."
    return kit.Ctx(
        bundle=bundle,
        idnps=idnps[0],
        date_fin=dates["end"],
        query="http://testserver" + query,
        **declared,
    )


def _slot(pro, hours, **kwargs):
    start = timezone.now() + timedelta(hours=hours)
    return f.SlotFactory(professional=pro, start=start, end=start + timedelta(minutes=20), **kwargs)


@pytest.fixture
def cpts_phone(cpts_a, cpts_b):
    for cpts, phone in ((cpts_a, "01 60 00 00 01"), (cpts_b, "0160000002")):
        cpts.phone = phone
        cpts.save(update_fields=["phone"])
    return cpts_a


@pytest.fixture
def one_place(cpts_phone):
    """practitioner_id: one place, slots of every type it opens, two modalities."""
    pro = f.ProfessionalFactory(cpts=cpts_phone)
    _slot(pro, 3)  # SNP + CPTS (the defaults)
    _slot(pro, 4, modality=Modality.TELECONSULTATION)
    _slot(pro, 5, for_sas=False, for_cpts=False, for_public=True)
    _slot(pro, 6, for_sas=False, for_cpts=False, for_partners=True)
    return pro


@pytest.fixture
def two_places(cpts_phone):
    """practitioner_id2 of the multi-lieux group: two places, slots at both."""
    pro = f.ProfessionalFactory(cpts=cpts_phone)
    second = Practice.objects.create(
        name="Maison de santé",
        address="2 rue de la Gare",
        commune=f.commune("91174"),
        latitude=48.59,
        longitude=2.46,
        phone="0169000000",
    )
    second.professionals.add(pro)
    _slot(pro, 3)
    _slot(pro, 4, practice=second)
    return pro


@pytest.fixture
def two_cpts(cpts_phone, cpts_b):
    """practitioner_id2 of the multi-CPTS groups: a member of two CPTS, CPTS-only slots."""
    pro = f.ProfessionalFactory(cpts=cpts_phone)
    pro.other_cpts.add(cpts_b)
    _slot(pro, 3, for_sas=False)
    _slot(pro, 4, for_sas=False)
    return pro


CASES = {
    "slot_group": kit.SLOT_GROUP,
    "single_location": kit.SINGLE_LOCATION,
    "multi_lieux": kit.MULTI_LIEUX,
    "search_multiple_ps": kit.SEARCH_MULTIPLE_PS,
    "practitioner_optional": kit.PRACTITIONER_OPTIONAL,
    "option_slots": kit.OPTION_SLOTS,
    "two_slot_two_cpts": kit.TWO_SLOT_TWO_CPTS,
    "single_slot_two_cpts": kit.SINGLE_SLOT_TWO_CPTS,
    "organization_optional": kit.ORGANIZATION_OPTIONAL,
}
PARAMS = [
    pytest.param(case, check, id=f"{case}-{check.__name__}")
    for case, checks in CASES.items()
    for check in checks
]


def test_it_ports_the_44_checks_of_the_kit():
    """43 FHIRPath checks and the Bundle validation of slot_group."""
    assert len(PARAMS) == 44


@pytest.mark.parametrize(("case", "check"), PARAMS)
def test_kit_check(case, check, client, request):
    if case in ("multi_lieux",):
        ctx = _search(client, [request.getfixturevalue("two_places")])
    elif case == "search_multiple_ps":
        one = request.getfixturevalue("one_place")
        other = f.ProfessionalFactory()
        _slot(other, 7)
        ctx = _search(client, [one, other])
    elif case in ("two_slot_two_cpts", "single_slot_two_cpts"):
        ctx = _search(client, [request.getfixturevalue("two_cpts")])
    else:
        ctx = _search(
            client,
            [request.getfixturevalue("one_place")],
            type_slot=["PUBLIC", "PRO", "SNP", "CPTS"],
            type_consultation=["AMB", "VR"],
        )
    if case in ("two_slot_two_cpts", "single_slot_two_cpts", "multi_lieux"):
        # The kit runs the checks of a group in order, sharing its scratch.
        for earlier in CASES[case][: CASES[case].index(check)]:
            with contextlib.suppress(AssertionError):
                earlier(ctx)
    check(ctx)
