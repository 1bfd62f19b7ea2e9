"""The kit's checks over the wire, as the national platform connects: nginx in front of a live
server, mutual TLS with a registered client certificate and no bearer token, the kit's own
Slot query; the answer must pass the same checks as in test_kit_slots.py (one place with
every slot type, and a professional in two CPTS). Skipped locally without nginx, required in CI
(see the nginx fixture)."""

import json
import urllib.parse

import pytest

from tests.interop.conformance import kit
from tests.interop.conformance.test_kit_slots import (  # noqa: F401 - pytest fixtures
    cpts_phone,
    one_place,
    two_cpts,
)
from tests.interop.test_mtls import _platform, _tls_get, nginx, pki  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

GROUPS = {
    "one_place": kit.SLOT_GROUP + kit.SINGLE_LOCATION + kit.OPTION_SLOTS,
    "two_cpts": kit.TWO_SLOT_TWO_CPTS,
}


def _ctx_over_mtls(port, certs, pro, **declared) -> kit.Ctx:
    idnps = f"8{pro.rpps}"
    query = "/fhir/Slot?" + urllib.parse.urlencode(
        kit.slot_search_params([idnps], kit.date_range())
    )
    status, body = _tls_get(port, query, certs, "client-registered")  # no Authorization header
    assert status == 200, body[:300]
    bundle = json.loads(body)
    assert bundle["resourceType"] == "Bundle" and bundle.get("entry"), "Le Bundle est vide."
    return kit.Ctx(
        bundle=bundle,
        idnps=idnps,
        date_fin=kit.date_range()["end"],
        query=f"https://127.0.0.1:{port}{query}",
        **declared,
    )


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_kit_checks_pass_over_mutual_tls(group, nginx, pki, request):  # noqa: F811
    _platform(pki)  # the platform's certificate, scope slots:read, no token used
    pro = request.getfixturevalue(group)
    declared = (
        {"type_slot": ["PUBLIC", "PRO", "SNP", "CPTS"], "type_consultation": ["AMB", "VR"]}
        if group == "one_place"
        else {}
    )
    ctx = _ctx_over_mtls(nginx, pki, pro, **declared)
    failed = []
    for check in GROUPS[group]:  # in the kit's order, sharing its scratch
        try:
            check(ctx)
        except AssertionError as error:
            failed.append(f"{check.__name__}: {error}")
    assert not failed, failed
    assert len(GROUPS[group]) == {"one_place": 15, "two_cpts": 6}[group]
