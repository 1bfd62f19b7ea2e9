"""Indicators: every figure of a known scenario, the SNP91 totals, scoping and errors."""

from datetime import date, timedelta
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relais.accounts.models import ApiClient
from relais.indicators.selectors import indicators_compute
from relais.orientation.services import booking_create
from relais.regulation.models import RequestStatus
from tests import factories as f
from tests.conftest import login
from tests.indicators.scenarios import MARCH, SNP91_MOTIFS, build_snp91, paris

pytestmark = pytest.mark.django_db

URL = "/api/v1/indicators"


def make_token(scopes: str = "indicators:read", name: str = "tableau-de-bord") -> str:
    out = StringIO()
    call_command("create_api_client", name=name, scopes=scopes, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_it_computes_every_figure_of_a_known_month(march, sas91):
    figures = indicators_compute(**MARCH, sas_ids={sas91.pk})
    assert figures == {
        **MARCH,
        "requests_total": 8,
        "requests_by_channel": {"phone": 5, "web": 2, "professional": 1},
        "consultations_done": 2,
        "response_rate": 0.25,
        "no_shows": 1,
        "no_show_rate": 0.3333,
        "redirected_to_15": 1,
        "unplaced": 1,
        "requests_by_status": {
            "to_regulate": 0,
            "open": 2,
            "booked": 1,
            "done": 2,
            "noshow": 1,
            "advice": 0,
            "redirected": 1,
            "oriented": 0,
            "unplaced": 1,
            "cancelled": 0,
        },
        "motifs": {"A03": 4, "R05": 2},
        "usable_motifs": 6,
        "unusable_motifs": 2,
        "booked_requests": 4,
        "seen_requests": 2,  # r1 and r3 fulfilled; r2 no-show, r7 still to come
        "median_delay_hours": 20.0,  # delays 2, 10, 30, 60 h
        "p90_delay_hours": 51.0,  # position 0.9 * 3 = 2.7: 30 + 0.7 * (60 - 30)
        # Seen: r1 after 2 h, r3 after 60 h. Before: over the booked requests (0.5, 0.75),
        # so r2's no-show at 30 h and r7's appointment to come counted as "seen".
        "within_24h_rate": 0.5,
        "within_48h_rate": 0.5,
        "professionals_publishing": 3,  # gp, physio, cancelled_gp (its slot is free again)
        "professionals_accepted": 2,  # gp, physio; the cancelled booking does not count
        "solicited_by_profession": {
            "medecin": 3,
            "infirmier": 0,
            "kine": 1,
            "pharmacien": 0,
            "sage_femme": 0,
            "dentiste": 0,
        },
        # Five free-or-booked slots in Essonne in March; the cancelled one is not used.
        "slots_published": 5,
        "slots_used": 4,
        "slots_use_rate": 0.8,
        "bookings_by_kind": {"slot": 4, "surnumeraire": 0, "niveau2": 0},
    }


def test_it_uses_a_fixed_number_of_queries(march, sas91):
    expected = 5 if connection.vendor == "postgresql" else 7
    with CaptureQueriesContext(connection) as queries:
        indicators_compute(**MARCH, sas_ids={sas91.pk})
    assert len(queries) == expected
    if connection.vendor == "postgresql":
        assert any("percentile_cont" in q["sql"] for q in queries.captured_queries)


def test_it_covers_every_territory_when_unscoped(march):
    figures = indicators_compute(**MARCH)
    assert figures["requests_total"] == 9
    assert figures["consultations_done"] == 3
    assert figures["motifs"] == {"A03": 4, "N01": 1, "R05": 2}
    assert figures["booked_requests"] == 5
    assert figures["median_delay_hours"] == 30.0  # delays 2, 10, 30, 60, 100 h
    assert figures["professionals_publishing"] == 4
    assert figures["professionals_accepted"] == 3
    assert figures["solicited_by_profession"]["medecin"] == 4


def test_it_keeps_only_the_requested_cpts(march, cpts_a, cpts_b):
    f.RequestFactory(
        patient=f.PatientFactory(commune=f.commune("91223")), created_at=paris(2024, 3, 5, 9)
    )
    only_b = indicators_compute(**MARCH, cpts_ids={cpts_b.pk})
    assert only_b["requests_total"] == 1
    assert only_b["booked_requests"] == 0
    assert only_b["median_delay_hours"] is None
    assert only_b["professionals_publishing"] == 0
    only_a = indicators_compute(**MARCH, cpts_ids={cpts_a.pk})
    assert only_a["requests_total"] == 8
    # In CPTS A: the gp (member) and every 91228 practice (the CPTS covers Évry).
    assert only_a["professionals_publishing"] == 3


def test_it_answers_zeros_for_an_empty_period(db):
    figures = indicators_compute(start=date(2020, 1, 1), end=date(2020, 1, 31))
    assert figures["requests_total"] == 0
    assert figures["requests_by_channel"] == {"phone": 0, "web": 0, "professional": 0}
    assert figures["response_rate"] == 0
    assert figures["no_show_rate"] == 0
    assert figures["within_24h_rate"] == 0
    assert figures["median_delay_hours"] is None
    assert figures["motifs"] == {}


def test_it_matches_nothing_for_an_empty_territory(march):
    figures = indicators_compute(**MARCH, sas_ids=frozenset(), cpts_ids=frozenset())
    assert figures["requests_total"] == 0
    assert figures["professionals_publishing"] == 0


def test_it_counts_a_booking_made_through_the_booking_service(cpts_a, olivia):
    req = f.RequestFactory()
    slot = f.SlotFactory(start=timezone.now() + timedelta(hours=3))
    booking_create(request=req, slot=slot, operator=olivia)
    today = timezone.localdate()
    figures = indicators_compute(start=today, end=today + timedelta(days=1))
    assert figures["requests_total"] == 1
    assert figures["booked_requests"] == 1
    assert figures["median_delay_hours"] == pytest.approx(3.0, abs=0.02)
    # An appointment still to come: booked, not yet seen.
    assert (figures["seen_requests"], figures["within_24h_rate"]) == (0, 0.0)
    assert figures["professionals_accepted"] == 1
    assert figures["solicited_by_profession"]["medecin"] == 1


def test_it_reproduces_the_snp91_totals_through_the_api(client, sas91):
    build_snp91(sas91)
    token = make_token()
    response = client.get(URL, {"start": "2022-09-01", "end": "2023-08-31"}, **auth(token))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["requests_total"] == 3655
    assert body["requests_by_channel"] == {"phone": 3215, "web": 440, "professional": 0}
    assert body["consultations_done"] == 1278
    assert body["response_rate"] == round(1278 / 3655, 4) == 0.3497
    assert body["redirected_to_15"] == 39
    assert body["unusable_motifs"] == 1361
    assert body["requests_by_status"]["done"] == 1278
    assert sum(body["requests_by_status"].values()) == 3655
    assert body["p90_delay_hours"] is None and body["slots_published"] == 0
    assert {code: body["motifs"][code] for code in SNP91_MOTIFS} == SNP91_MOTIFS


def test_it_documents_the_route_in_openapi(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"][URL]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"start", "end", "territory"}
    out = schema["components"]["schemas"]["IndicatorsOut"]["properties"]
    assert "response_rate" in out and "description" in out["response_rate"]


def test_it_requires_authentication(client):
    response = client.get(URL, MARCH)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_it_refuses_a_token_without_the_indicators_scope(client):
    token = make_token("requests:read")
    response = client.get(URL, MARCH, **auth(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_it_refuses_a_role_without_indicators(client, oscar):
    response = login(client, oscar).get(URL, MARCH)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "period",
    [
        {"start": "2024-03-31", "end": "2024-03-01"},
        {"start": "2023-01-01", "end": "2024-02-05"},  # 401 days
    ],
)
def test_it_refuses_a_bad_period(client, period):
    response = client.get(URL, period, **auth(make_token()))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_period"
    assert "période" in error["message"] or "date de fin" in error["message"]


def test_it_accepts_a_period_of_400_days(client):
    period = {"start": "2023-01-01", "end": "2024-02-04"}
    assert client.get(URL, period, **auth(make_token())).status_code == 200


@pytest.mark.parametrize("territory", [str(uuid4()), "pas-un-uuid"])
def test_it_answers_404_for_an_unknown_territory(client, territory):
    response = client.get(URL, {**MARCH, "territory": territory}, **auth(make_token()))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_scopes_a_token_to_its_sas(client, march, sas91, sas43, cpts_a):
    token = make_token()
    ApiClient.objects.get(name="tableau-de-bord").sas_scope.set([sas43])
    body = client.get(URL, MARCH, **auth(token)).json()
    assert body["requests_total"] == 1
    assert body["consultations_done"] == 1
    assert body["motifs"] == {"N01": 1}
    for outside in (sas91, cpts_a):
        response = client.get(URL, {**MARCH, "territory": str(outside.public_id)}, **auth(token))
        assert response.status_code == 404
    inside = client.get(URL, {**MARCH, "territory": str(sas43.public_id)}, **auth(token))
    assert inside.json()["requests_total"] == 1
    assert inside.json()["territory"] == str(sas43.public_id)


def test_it_shows_a_coordinator_only_her_cpts(client, march, coralie, sas91, cpts_a, cpts_b):
    f.RequestFactory(
        patient=f.PatientFactory(commune=f.commune("91223")),
        status=RequestStatus.DONE,
        created_at=paris(2024, 3, 5, 9),
    )
    login(client, coralie)
    mine = client.get(URL, MARCH)
    assert mine.status_code == 200
    assert mine.json()["requests_total"] == 1
    assert mine.json()["response_rate"] == 1.0
    explicit = client.get(URL, {**MARCH, "territory": str(cpts_b.public_id)})
    assert explicit.json()["requests_total"] == 1
    for outside in (cpts_a, sas91):
        response = client.get(URL, {**MARCH, "territory": str(outside.public_id)})
        assert response.status_code == 404


def test_it_lets_a_regulator_narrow_to_a_cpts_of_his_sas(client, march, regis, cpts_a, sas43):
    login(client, regis)
    whole = client.get(URL, MARCH).json()
    assert whole["requests_total"] == 8
    narrowed = client.get(URL, {**MARCH, "territory": str(cpts_a.public_id)}).json()
    assert narrowed["requests_total"] == 8
    assert narrowed["territory"] == str(cpts_a.public_id)
    response = client.get(URL, {**MARCH, "territory": str(sas43.public_id)})
    assert response.status_code == 404


@pytest.mark.django_db
def test_it_refuses_dates_out_of_range_instead_of_crashing():
    from datetime import date

    from relais.core.errors import ApplicationError
    from relais.indicators.selectors import period_check

    with pytest.raises(ApplicationError, match="hors limites"):
        period_check(start=date(1, 1, 1), end=date(1, 1, 1))
    period_check(start=date(2026, 1, 1), end=date(2026, 12, 31))


@pytest.mark.django_db
def test_it_counts_bookings_by_kind_of_placement(cpts_a, sas91):
    from datetime import timedelta

    from django.utils import timezone

    from relais.indicators.selectors import indicators_compute
    from relais.orientation.services import (
        booking_create,
        level2_accept,
        level2_launch,
        surnumeraire_address,
    )

    soon = timezone.now() + timedelta(hours=2)
    booking_create(request=f.RequestFactory(), slot=f.SlotFactory())
    surnumeraire_address(
        request=f.RequestFactory(),
        professional=f.ProfessionalFactory(accepts_surnumeraire=True),
        start=soon,
    )
    f.ProfessionalFactory(cpts_level2=True)
    call = level2_launch(request=f.RequestFactory())
    level2_accept(offer=call.offers.get(), start=soon + timedelta(hours=1))
    today = timezone.localdate()
    figures = indicators_compute(start=today, end=today, sas_ids={sas91.pk})
    assert figures["bookings_by_kind"] == {"slot": 1, "surnumeraire": 1, "niveau2": 1}
