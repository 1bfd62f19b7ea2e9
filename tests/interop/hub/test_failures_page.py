"""The Hub Santé failures page (SAS administrators, beside the INT_R03 reports)."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from relais.accounts.models import Role
from relais.interop.hub.services import inbound_handle, outbox_attempt_failed
from relais.interop.models import HubOutbound, ReportStatus
from relais.orientation.services import booking_cancel, booking_create
from relais.regulation.models import Request
from tests import factories as f
from tests.conftest import login
from tests.interop.hub.lrm import RELAIS_ID, body, case_envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def failures(settings, sas91, sas43, cpts_a):
    settings.RELAIS_HUB_CLIENT_ID = RELAIS_ID
    settings.RELAIS_HUB_ENABLED = True
    settings.RELAIS_HUB_MAX_ATTEMPTS = 1
    inbound_handle(body=body(case_envelope()), queue="message")
    inbound_handle(body=b"{pas du json", queue="message")
    inbound_handle(body=body(case_envelope(expires_in=-30)), queue="message")
    booking = booking_create(request=Request.objects.get(), slot=f.SlotFactory())
    booking_cancel(booking=booking, reason="test")
    for row in HubOutbound.objects.filter(use_case="appointment"):
        outbox_attempt_failed(row, "connection lost: StreamLostError")
    return booking


def test_the_admin_sees_failed_reports_and_refused_messages_and_retries(client, failures, sas91):
    admin = f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)
    page = login(client, admin).get(reverse("interop:hub_failures"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "RS-SAS-RDV booked" in html and "RS-SAS-RDV cancelled" in html
    assert "StreamLostError" in html
    assert "102" in html and "400" in html  # the unreadable body, the expired case
    assert "pas du json" not in html  # bodies stay in the database
    row = HubOutbound.objects.filter(use_case="appointment").first()
    answer = client.post(reverse("interop:hub_retry", args=[row.pk]))
    assert answer.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.attempts) == (ReportStatus.PENDING, 0)
    again = client.post(reverse("interop:hub_retry", args=[row.pk]), follow=True)
    assert "plus en échec" in again.content.decode()
    if os.environ.get("RELAIS_HUB_SHOT"):
        Path(os.environ["RELAIS_HUB_SHOT"]).write_text(html)


def test_another_territorys_admin_neither_sees_nor_retries_its_reports(client, failures, sas43):
    admin43 = f.member(f.UserFactory(username="alain"), Role.ADMIN, sas_obj=sas43)
    html = login(client, admin43).get(reverse("interop:hub_failures")).content.decode()
    assert "RS-SAS-RDV" not in html
    row = HubOutbound.objects.filter(use_case="appointment").first()
    assert client.post(reverse("interop:hub_retry", args=[row.pk])).status_code == 404
    row.refresh_from_db()
    assert row.status == ReportStatus.FAILED


def test_an_operator_has_no_access(client, failures, olivia):
    assert login(client, olivia).get(reverse("interop:hub_failures")).status_code == 403
