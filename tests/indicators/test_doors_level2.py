"""The split by door and the niveau-2 figures (issue 19, item 8), in the selectors, the
dashboard tables and GET /api/v1/indicators."""

from datetime import timedelta

import pytest

from relais.accounts.models import Role
from relais.indicators.selectors import indicators_by_door, indicators_level2
from relais.orientation.models import Booking, Level2Call, Level2Status
from relais.regulation.models import Channel, RequestStatus
from tests import factories as f
from tests.conftest import login
from tests.indicators.scenarios import MARCH, paris, past_booking
from tests.indicators.test_indicators import auth, make_token

pytestmark = pytest.mark.django_db
DAY = paris(2024, 3, 10, 10)


@pytest.fixture
def doors(cpts_a, sas91):
    operator = f.member(f.UserFactory(username="op-sas"), Role.OPERATEUR, sas_obj=sas91)
    line = f.member(f.UserFactory(username="op-cpts"), Role.OPERATEUR, cpts=cpts_a)
    gp = f.ProfessionalFactory(cpts=cpts_a)
    for _ in range(3):
        f.RequestFactory(channel=Channel.PHONE, created_by=operator, created_at=DAY)
    seen = f.RequestFactory(
        channel=Channel.PHONE, created_by=line, created_at=DAY, status=RequestStatus.DONE
    )
    Booking.objects.filter(pk=past_booking(seen, gp, after_hours=3).pk).update(channel="partner")
    f.RequestFactory(channel=Channel.PHONE, created_by=line, created_at=DAY)
    f.RequestFactory(channel=Channel.PHONE, created_by=None, created_at=DAY)  # LRM / API
    f.RequestFactory(channel=Channel.WEB, created_at=DAY, status=RequestStatus.DONE)
    f.RequestFactory(channel=Channel.PROFESSIONAL, created_at=DAY)
    return {"gp": gp}


def test_it_splits_the_requests_by_door(doors, sas91):
    split = indicators_by_door(**MARCH, sas_ids={sas91.pk})
    assert split == {
        "sas": {"requests": 4, "done": 0, "partner": 0},
        "cpts_line": {"requests": 2, "done": 1, "partner": 1},
        "web": {"requests": 1, "done": 1, "partner": 0},
        "referral": {"requests": 1, "done": 0, "partner": 0},
    }


def _call(request, status, *, accepted_after=None, professional=None):
    return Level2Call.objects.create(
        request=request,
        status=status,
        radius_km=10,
        created_at=request.created_at,
        widen_at=request.created_at + timedelta(minutes=15),
        deadline=request.created_at + timedelta(hours=2),
        accepted_by=professional if accepted_after is not None else None,
        accepted_at=request.created_at + accepted_after if accepted_after is not None else None,
    )


def test_it_counts_the_niveau_2_calls(cpts_a, sas91):
    gp = f.ProfessionalFactory(cpts=cpts_a)
    for minutes in (10, 30, 90):
        _call(
            f.RequestFactory(created_at=DAY),
            Level2Status.ACCEPTED,
            accepted_after=timedelta(minutes=minutes),
            professional=gp,
        )
    lost = f.RequestFactory(created_at=DAY, status=RequestStatus.UNPLACED)
    _call(lost, Level2Status.EXPIRED)
    _call(f.RequestFactory(created_at=DAY + timedelta(days=40)), Level2Status.EXPIRED)  # April
    figures = indicators_level2(**MARCH, sas_ids={sas91.pk})
    assert figures == {
        "calls": 4,
        "requests": 4,
        "accepted": 3,
        "acceptance_rate": 0.75,
        "median_hours_to_acceptance": 0.5,
        "expired": 1,
        "cancelled": 0,
        "open": 0,
        "unplaced_requests": 1,
    }


def test_the_dashboard_and_the_api_give_the_same_split(client, doors, regis, sas91):
    login(client, regis)
    page = client.get("/indicateurs/", {"debut": "2024-03-01", "fin": "2024-03-31"})
    tables = {t.slug: t for t, _ in page.context["tables"]}
    rows = {row[0]: row[1:] for row in tables["portes"].rows}
    assert rows["Ligne de la CPTS"] == [2, 25.0, 1, 1]
    assert rows["SAS (15 / 116 117)"] == [4, 50.0, 0, 0]
    api = client.get(
        "/api/v1/indicators",
        {"start": "2024-03-01", "end": "2024-03-31", "territory": str(sas91.public_id)},
        **auth(make_token()),
    ).json()
    assert api["requests_by_door"]["cpts_line"] == {"requests": 2, "done": 1, "partner": 1}
    assert api["level2"]["calls"] == 0
    assert sum(d["requests"] for d in api["requests_by_door"].values()) == api["requests_total"]
