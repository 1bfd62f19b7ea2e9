"""API clients limited to a territory (issue 17 item 5): a limited client never sees another
territory through /api/v1 or /fhir. The issue found an `indicators:read` token reading
Haute-Loire and the national total."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relais.accounts.services import api_client_create
from tests import factories as f
from tests.interop.conftest import bearer
from tests.interop.test_fhir_slots import sas_query

pytestmark = pytest.mark.django_db


def _indicators(client, token, territory=None):
    today = timezone.localdate()
    params = {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}
    if territory is not None:
        params["territory"] = str(territory.public_id)
    return client.get("/api/v1/indicators", params, **bearer(token))


@pytest.fixture
def three_territories(cpts_a, cpts_b, sas43):
    """Requests: 3 in CPTS A, 2 in CPTS B (both SAS 91), 4 in Haute-Loire (SAS 43)."""
    for _ in range(3):
        f.RequestFactory(patient=f.PatientFactory(commune=f.commune("91228")))
    for _ in range(2):
        f.RequestFactory(patient=f.PatientFactory(commune=f.commune("91223")))
    for _ in range(4):
        f.RequestFactory(patient=f.PatientFactory(commune=f.commune("43157")))
    return cpts_a, cpts_b, sas43


def test_it_shows_a_limitless_token_everything_and_a_cpts_token_its_cpts_only(
    client, three_territories, sas91
):
    cpts_a, cpts_b, sas43 = three_territories
    _, national = api_client_create(name="ars", scopes=["indicators:read"])
    limited, token = api_client_create(name="logiciel-cpts-a", scopes=["indicators:read"])
    limited.cpts_scope.add(cpts_a)

    # The finding, still true of a token without a limit: all of it.
    assert _indicators(client, national).json()["requests_total"] == 9
    assert _indicators(client, national, sas43).json()["requests_total"] == 4

    # Limited to CPTS A: its 3 requests, and nothing else answers.
    answer = _indicators(client, token)
    assert answer.status_code == 200 and answer.json()["requests_total"] == 3
    assert _indicators(client, token, cpts_a).json()["requests_total"] == 3
    for elsewhere in (cpts_b, sas91, sas43):
        response = _indicators(client, token, elsewhere)
        assert response.status_code == 404, elsewhere
        assert response.json()["error"]["code"] == "not_found"


def test_it_keeps_a_sas_limited_token_in_its_sas(client, three_territories, sas91):
    cpts_a, cpts_b, sas43 = three_territories
    limited, token = api_client_create(name="sas-essonne", scopes=["indicators:read"])
    limited.sas_scope.add(sas91)
    assert _indicators(client, token).json()["requests_total"] == 5
    assert _indicators(client, token, cpts_b).json()["requests_total"] == 2
    assert _indicators(client, token, sas43).status_code == 404


def test_it_shows_a_cpts_limited_client_the_slots_of_its_cpts_members_only(
    client, cpts_a, cpts_b, sas91
):
    member_a = f.ProfessionalFactory(cpts=cpts_a)
    member_b = f.ProfessionalFactory(cpts=cpts_b)  # same département, other CPTS
    other_member = f.ProfessionalFactory(cpts=cpts_b)
    other_member.other_cpts.add(cpts_a)  # belongs to both
    for pro in (member_a, member_b, other_member):
        f.SlotFactory(professional=pro, for_sas=True)
    limited, token = api_client_create(name="logiciel-cpts-a", scopes=["slots:read"])
    limited.cpts_scope.add(cpts_a)
    _, national = api_client_create(name="plateforme-sas", scopes=["slots:read"])

    everyone = sas_query(member_a.rpps, member_b.rpps, other_member.rpps)
    seen_by_all = client.get("/fhir/Slot", everyone, **bearer(national)).json()
    seen_by_a = client.get("/fhir/Slot", everyone, **bearer(token)).json()
    assert seen_by_all["total"] == 3
    assert seen_by_a["total"] == 2  # member_a and the member of both, never member_b
