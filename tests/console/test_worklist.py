"""Issue 18, item 1: worklists ordered by deadline, live, with their age and colour."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from relais.accounts.permissions import scope_for
from relais.audit.models import AuditEvent
from relais.regulation.models import Request, RequestStatus
from relais.regulation.selectors import requests_to_regulate, requests_worklist
from tests import factories as f

pytestmark = pytest.mark.django_db


def _request(urgency, *, minutes_ago=0, **kw):
    req = f.RequestFactory(urgency=urgency, **kw)
    Request.objects.filter(pk=req.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return req


def test_it_orders_the_worklist_by_deadline_not_by_the_band_as_text(olivia, cpts_a):
    """Before: order_by("urgency") put "12-24h" and "24-48h" above "4-8h"."""
    late = _request("24-48h", minutes_ago=0)
    mid = _request("12-24h", minutes_ago=0)
    soon = _request("4-8h", minutes_ago=0)
    urgent = _request("0-4h", minutes_ago=0)
    refs = [r.reference for r in requests_worklist(scope=scope_for(olivia))]
    assert refs == [urgent.reference, soon.reference, mid.reference, late.reference]


def test_it_puts_an_older_wider_band_before_a_fresh_narrow_one_when_its_deadline_is_nearer(
    olivia, cpts_a
):
    # 12-24h received 22 h ago: 2 h left; 4-8h received now: 8 h left.
    old = _request("12-24h", minutes_ago=22 * 60)
    fresh = _request("4-8h")
    refs = [r.reference for r in requests_worklist(scope=scope_for(olivia))]
    assert refs == [old.reference, fresh.reference]


def test_it_puts_red_flags_and_p0_p1_first(olivia, cpts_a):
    plain = _request("0-4h", minutes_ago=200)
    flagged = _request("24-48h", red_flag=True, red_flag_reasons="douleur thoracique")
    p1 = _request("24-48h", priority="P1")
    lifted = _request("24-48h", red_flag=True, red_flag_override_at=timezone.now())
    refs = [r.reference for r in requests_worklist(scope=scope_for(olivia))]
    assert refs[:2] == sorted([flagged.reference, p1.reference], key=refs.index)
    assert set(refs[:2]) == {flagged.reference, p1.reference}
    assert refs[2:] == [plain.reference, lifted.reference]


def test_it_orders_the_regulators_list_the_same_way(regis, cpts_a):
    wide = _request("24-48h", status=RequestStatus.TO_REGULATE)
    narrow = _request("4-8h", status=RequestStatus.TO_REGULATE)
    refs = [r.reference for r in requests_to_regulate(scope=scope_for(regis))]
    assert refs == [narrow.reference, wide.reference]


def test_it_shows_each_rows_age_and_colours_it_as_the_deadline_nears(client, olivia, cpts_a):
    overdue = _request("0-4h", minutes_ago=5 * 60)
    near = _request("0-4h", minutes_ago=3 * 60 + 30)
    fine = _request("24-48h", minutes_ago=12)
    client.force_login(olivia)
    html = client.get(reverse("regulation:worklist")).content.decode()
    assert "il y a 12 min" in html
    assert "il y a 5 h 00" in html  # the overdue one
    for req, state in ((overdue, "over"), (near, "soon"), (fine, "ok")):
        row = html[html.index(req.reference) - 200 : html.index(req.reference)]
        assert f"due-{state}" in row, (req.urgency, state)
    assert "dépassée" in html and "proche" in html


def test_it_serves_a_live_partial_polled_by_the_page(client, olivia, cpts_a):
    client.force_login(olivia)
    page = client.get(reverse("regulation:worklist")).content.decode()
    live_url = reverse("regulation:worklist_live")
    assert f'hx-get="{live_url}"' in page and 'hx-trigger="every 15s"' in page
    assert 'role="alert"' in page and 'id="worklist-sound"' in page
    # A request arriving after the page was loaded shows up in the next poll.
    flagged = _request("12-24h", red_flag=True, red_flag_reasons="dyspnée")
    live = client.get(live_url)
    assert live.status_code == 200
    body = live.content.decode()
    assert flagged.reference in body
    assert f'data-alarms="{flagged.reference}"' in body
    assert 'data-open-count="1"' in body
    assert "<html" not in body  # a fragment, not a page


def test_it_audits_a_polled_patient_once_not_at_every_poll(client, olivia, cpts_a):
    req = _request("12-24h")
    client.force_login(olivia)
    live_url = reverse("regulation:worklist_live")
    client.get(live_url)
    client.get(live_url)
    client.get(live_url)
    reads = AuditEvent.objects.filter(
        action="read", object_id=str(req.patient.public_id), reason="liste de travail"
    )
    assert reads.count() == 1
    newcomer = _request("4-8h")
    client.get(live_url)
    assert (
        AuditEvent.objects.filter(action="read", object_id=str(newcomer.patient.public_id)).count()
        == 1
    )


def test_it_refuses_the_live_partial_outside_the_roles(client, nobody, oscar, cpts_a):
    req = _request("12-24h")
    client.force_login(nobody)
    assert client.get(reverse("regulation:worklist_live")).status_code == 403
    client.force_login(oscar)  # another SAS: sees nothing of the Essonne
    response = client.get(reverse("regulation:worklist_live"))
    assert response.status_code == 200 and req.reference not in response.content.decode()


def test_it_lists_the_worklist_in_the_api_in_the_same_order(client, olivia, cpts_a):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_client", name="lrm", scopes="requests:read", sas="91", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    wide = _request("24-48h")
    narrow = _request("4-8h")
    flagged = _request("24-48h", red_flag=True, red_flag_reasons="dyspnée")
    response = client.get("/api/v1/requests", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    items = response.json()
    assert [i["reference"] for i in items] == [
        flagged.reference,
        narrow.reference,
        wide.reference,
    ]
    assert items[0]["red_flag"] is True and items[1]["deadline_state"] == "ok"
    bad = client.get("/api/v1/requests?status=booked", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_status"
