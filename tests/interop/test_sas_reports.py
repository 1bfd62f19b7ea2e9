"""INT_R03: bookings and status changes reported to a (fake, local) SAS endpoint."""

from urllib.parse import quote

import pytest
from django.utils import timezone

from relais.accounts.models import Role
from relais.interop.models import ReportStatus, SasReport
from relais.interop.services import (
    REPORT_MAX_ATTEMPTS,
    appointment_report_enqueue,
    sas_report_deliver,
)
from relais.orientation.services import booking_cancel, booking_create
from tests import factories as f
from tests.conftest import login
from tests.interop.conftest import validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def sas_endpoint(settings, fake_endpoint):
    settings.RELAIS_SAS_FHIR_URL = fake_endpoint.url
    settings.RELAIS_SAS_FHIR_TOKEN = "jeton-sas"
    return fake_endpoint


@pytest.fixture
def booking(snp_request):
    return booking_create(request=snp_request, slot=f.SlotFactory())


def test_it_reports_nothing_when_no_sas_endpoint_is_configured(booking, settings):
    settings.RELAIS_SAS_FHIR_URL = ""
    assert appointment_report_enqueue(booking=booking) is None
    assert SasReport.objects.count() == 0


def test_it_posts_then_puts_the_appointment_in_order(booking, sas_endpoint):
    created = appointment_report_enqueue(booking=booking)
    booking_cancel(booking=booking, reason="test")  # the booking service queues the PUT
    changed = SasReport.objects.filter(booking=booking).latest("pk")
    assert (created.method, changed.method) == ("POST", "PUT")
    # The PUT waits for the POST.
    assert sas_report_deliver(report_id=changed.pk) == "deferred"
    assert sas_report_deliver(report_id=created.pk) == "sent"
    assert sas_report_deliver(report_id=changed.pk) == "sent"
    (post_method, post_path, post_body, headers), (put_method, put_path, put_body, _) = (
        sas_endpoint.calls
    )
    assert (post_method, post_path) == ("POST", "/fhir/Appointment")
    assert headers["Authorization"] == "Bearer jeton-sas"
    assert put_method == "PUT"
    system = quote(post_body["identifier"][0]["system"], safe="")
    assert system.startswith("http")  # a URL of the installation, not urn:relais:booking
    assert put_path == f"/fhir/Appointment?identifier={system}%7C{booking.public_id}"
    assert (post_body["status"], put_body["status"]) == ("booked", "cancelled")
    validate(post_body)
    validate(put_body)
    assert set(SasReport.objects.values_list("status", flat=True)) == {ReportStatus.SENT}


def test_it_retries_with_exponential_backoff_then_gives_up(booking, sas_endpoint):
    sas_endpoint.responder = lambda method, path, body: (503, {"resourceType": "OperationOutcome"})
    report = appointment_report_enqueue(booking=booking)
    delays = []
    for _ in range(REPORT_MAX_ATTEMPTS):
        before = timezone.now()
        assert sas_report_deliver(report_id=report.pk) == "failed"
        report.refresh_from_db()
        if report.next_attempt_at:
            delays.append(round((report.next_attempt_at - before).total_seconds() / 60))
    assert delays == [1, 2, 4, 8, 16]
    assert report.status == ReportStatus.FAILED and report.attempts == REPORT_MAX_ATTEMPTS
    assert report.last_error == "HTTP 503"
    assert sas_report_deliver(report_id=report.pk) == "skipped"


def test_it_does_not_retry_a_message_the_sas_rejects(booking, sas_endpoint):
    sas_endpoint.responder = lambda method, path, body: (422, {"resourceType": "OperationOutcome"})
    report = appointment_report_enqueue(booking=booking)
    assert sas_report_deliver(report_id=report.pk) == "failed"
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED and report.attempts == 1


def test_it_records_an_unreachable_endpoint_as_a_retryable_failure(booking, settings):
    settings.RELAIS_SAS_FHIR_URL = "http://127.0.0.1:9/fhir"  # discard port: refused
    report = appointment_report_enqueue(booking=booking)
    assert sas_report_deliver(report_id=report.pk) == "failed"
    report.refresh_from_db()
    assert report.status == ReportStatus.PENDING and report.next_attempt_at is not None


def failed_report(booking, sas_endpoint):
    sas_endpoint.responder = lambda method, path, body: (400, {})
    report = appointment_report_enqueue(booking=booking)
    sas_report_deliver(report_id=report.pk)
    return report


def test_it_lists_failures_to_admins_and_lets_them_retry(client, booking, sas_endpoint, sas91):
    report = failed_report(booking, sas_endpoint)
    admin = f.member(f.UserFactory(username="ada"), Role.ADMIN, sas_obj=sas91)
    page = login(client, admin).get("/interop/comptes-rendus-sas/")
    assert page.status_code == 200
    assert "HTTP 400" in page.content.decode()
    sas_endpoint.responder = lambda method, path, body: (201, {})
    response = client.post(f"/interop/comptes-rendus-sas/{report.pk}/renvoyer/")
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == ReportStatus.PENDING and report.attempts == 0
    assert sas_report_deliver(report_id=report.pk) == "sent"


def test_it_refuses_the_failures_page_to_operators(client, olivia, booking, sas_endpoint):
    report = failed_report(booking, sas_endpoint)
    assert login(client, olivia).get("/interop/comptes-rendus-sas/").status_code == 403
    assert client.post(f"/interop/comptes-rendus-sas/{report.pk}/renvoyer/").status_code == 403


def test_it_hides_other_territories_failures_from_an_admin(client, booking, sas_endpoint, sas43):
    report = failed_report(booking, sas_endpoint)
    admin43 = f.member(f.UserFactory(username="ada43"), Role.ADMIN, sas_obj=sas43)
    page = login(client, admin43).get("/interop/comptes-rendus-sas/")
    assert "HTTP 400" not in page.content.decode()
    assert client.post(f"/interop/comptes-rendus-sas/{report.pk}/renvoyer/").status_code == 404


def test_it_reports_every_booking_and_status_change_from_the_booking_service(
    sas_endpoint, snp_request
):
    booking = booking_create(request=snp_request, slot=f.SlotFactory())
    booking_cancel(booking=booking, reason="patient guéri")
    reports = list(SasReport.objects.filter(booking=booking).order_by("pk"))
    assert [(r.method, r.appointment_status) for r in reports] == [
        ("POST", "booked"),
        ("PUT", "cancelled"),
    ]
