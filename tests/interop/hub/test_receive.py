"""The Hub connector's services without a broker: RS-EDA in, RC-REF / RS-ERROR and
RS-SAS-RDV into the outbox (the broker tests, test_broker.py, carry them over AMQP)."""

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from relais.interop.hub import messages as m
from relais.interop.hub.services import (
    inbound_handle,
    outbox_attempt_failed,
    outbox_due,
    outbox_sent,
)
from relais.interop.models import (
    HubCase,
    HubInbound,
    HubInboundStatus,
    HubOutbound,
    ReportStatus,
)
from relais.orientation.services import booking_cancel, booking_create, booking_record_outcome
from relais.regulation.models import IdentityStatus, Request, RequestStatus
from tests import factories as f
from tests.interop.hub.lrm import LRM_ID, RELAIS_ID, body, case_envelope, content_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hub(settings, cpts_a):
    settings.RELAIS_HUB_CLIENT_ID = RELAIS_ID
    settings.RELAIS_HUB_RETRY_SECONDS = 10
    settings.RELAIS_HUB_MAX_ATTEMPTS = 3


def _answers(use_case=None):
    rows = HubOutbound.objects.order_by("pk")
    if use_case:
        rows = rows.filter(use_case=use_case)
    for row in rows:
        assert m.parse(json.dumps(row.envelope).encode()).use_case == row.use_case
    return list(rows)


def test_an_snp_case_becomes_one_request_acknowledged_with_rc_ref():
    gp = f.ProfessionalFactory()
    envelope = case_envelope(gp_rpps="8" + gp.rpps)
    row = inbound_handle(body=body(envelope), queue="message")
    assert row.status == HubInboundStatus.INTEGRATED
    req = Request.objects.get()
    patient = req.patient
    assert (patient.last_name, patient.first_name) == ("Martin", "Lucie")
    assert (patient.birth_name, str(patient.birth_date), patient.sex) == (
        "DUPONT",
        "1987-03-14",
        "F",
    )
    assert patient.identity_status == IdentityStatus.PROVISOIRE  # never "qualifiée"
    assert patient.medecin_traitant == gp
    assert patient.commune.insee == "91228"
    assert req.callback_phone == "0639982222"  # the callback contact, not the caller's line
    assert req.status == RequestStatus.OPEN and not req.red_flag
    assert "Fièvre depuis hier soir" in req.motif_text
    case = HubCase.objects.get()
    assert (case.request, case.sender_id) == (req, LRM_ID)
    assert case.case_id == content_of(envelope)["caseId"]
    (ack,) = _answers()
    assert (ack.use_case, ack.recipient_id) == ("reference", LRM_ID)
    assert ack.envelope["distributionKind"] == "Ack"
    assert content_of(ack.envelope) == {"distributionID": envelope["distributionID"]}


def test_a_red_flag_in_the_case_goes_to_the_regulateur():
    envelope = case_envelope(motive="Douleur thoracique intense depuis 20 minutes, sueurs")
    inbound_handle(body=body(envelope), queue="message")
    req = Request.objects.get()
    assert req.red_flag
    assert req.status == RequestStatus.TO_REGULATE


def test_a_duplicated_distribution_id_creates_nothing_new_and_is_acknowledged_again():
    raw = body(case_envelope())
    first = inbound_handle(body=raw, queue="message")
    again = inbound_handle(body=raw, queue="message")
    assert again.pk == first.pk
    assert Request.objects.count() == 1 and HubInbound.objects.count() == 1
    assert HubInbound.objects.get().duplicates == 1
    assert len(_answers("reference")) == 2


def test_the_same_case_in_a_new_message_is_refused_as_already_existing():
    envelope = case_envelope()
    inbound_handle(body=body(envelope), queue="message")
    resent = case_envelope(content_of(envelope))
    row = inbound_handle(body=body(resent), queue="message")
    assert (row.status, row.error_code) == (HubInboundStatus.REFUSED, 701)
    assert Request.objects.count() == 1
    (error,) = _answers("error")
    assert content_of(error.envelope)["referencedDistributionID"] == resent["distributionID"]


def test_an_expired_case_is_refused_with_the_hubs_error():
    envelope = case_envelope(expires_in=-60)
    row = inbound_handle(body=body(envelope), queue="message")
    assert (row.status, row.error_code) == (HubInboundStatus.EXPIRED, 400)
    assert Request.objects.count() == 0
    (error,) = _answers()
    code = content_of(error.envelope)["errorCode"]
    assert code == {"statusCode": 400, "statusString": "EXPIRED_MESSAGE_BEFORE_ROUTING"}
    assert error.envelope["distributionKind"] == "Error" and error.recipient_id == LRM_ID


@pytest.mark.parametrize(
    "kwargs, cause",
    [({"perimeter": "AMU"}, "SNP cases only"), ({"insee": "99999"}, "Unknown commune")],
)
def test_a_case_relais_cannot_take_is_refused_with_insufficient_data(kwargs, cause):
    row = inbound_handle(body=body(case_envelope(**kwargs)), queue="message")
    assert (row.status, row.error_code) == (HubInboundStatus.REFUSED, 704)
    assert cause in row.error_cause
    assert Request.objects.count() == 0
    assert content_of(_answers("error")[0].envelope)["errorCode"]["statusCode"] == 704


def test_a_malformed_message_is_kept_and_answered_with_the_schema_code():
    envelope = case_envelope()
    content_of(envelope)["perimeter"] = "SAS"
    raw = body(envelope)
    row = inbound_handle(body=raw, queue="message")
    assert (row.status, row.error_code) == (HubInboundStatus.MALFORMED, 300)
    assert row.body == raw.decode()  # kept for inspection, never lost
    assert Request.objects.count() == 0
    (error,) = _answers("error")
    assert content_of(error.envelope)["errorCode"]["statusCode"] == 300
    assert content_of(error.envelope)["sourceMessage"]["distributionID"] == row.distribution_id
    # Redelivered: counted on the same row, answered once.
    assert inbound_handle(body=raw, queue="message").pk == row.pk
    assert len(_answers("error")) == 1


def test_an_unreadable_body_is_kept_with_nobody_to_answer():
    row = inbound_handle(body=b"\x00garbage", queue="message")
    again = inbound_handle(body=b"\x00garbage", queue="message")
    assert again.pk == row.pk and HubInbound.objects.get().duplicates == 1
    assert (row.status, row.error_code) == (HubInboundStatus.MALFORMED, 102)
    assert row.body == "base64:" + base64.b64encode(b"\x00garbage").decode()  # kept, lossless
    assert HubOutbound.objects.count() == 0


def _case_request():
    inbound_handle(body=body(case_envelope()), queue="message")
    HubOutbound.objects.all().delete()
    return Request.objects.get()


def test_every_booking_change_queues_one_rs_sas_rdv_in_order(olivia):
    req = _case_request()
    operator = olivia
    operator.email = "olivia@example.fr"
    operator.save(update_fields=["email"])
    slot = f.SlotFactory(professional=f.ProfessionalFactory(rpps="10003456789"))
    booking = booking_create(request=req, slot=slot, operator=operator)
    with time_machine.travel(timezone.now() + timedelta(hours=4)):
        booking_record_outcome(booking=booking, outcome="fulfilled")
    reports = _answers("appointment")
    assert [r.appointment_status for r in reports] == ["booked", "fulfilled"]
    created, updated = (content_of(r.envelope) for r in reports)
    assert (created["method"], updated["method"]) == ("CreateAppointment", "UpdateAppointment")
    assert created["appointmentId"] == updated["appointmentId"] == str(booking.public_id)
    assert created["practitioner"]["rppsId"] == "810003456789"
    assert created["regulator"]["regulatorName"] == olivia.last_name
    assert created["regulator"]["regulatorEmail"] == olivia.email
    assert [r.envelope["distributionKind"] for r in reports] == ["Report", "Update"]
    assert {r.recipient_id for r in reports} == {LRM_ID}


def test_a_cancellation_is_reported_and_a_request_from_elsewhere_reports_nothing():
    req = _case_request()
    booking = booking_create(request=req, slot=f.SlotFactory())
    booking_cancel(booking=booking, reason="patient indisponible")
    assert [r.appointment_status for r in _answers("appointment")] == ["booked", "cancelled"]
    other = f.RequestFactory()
    booking_create(request=other, slot=f.SlotFactory())
    assert HubOutbound.objects.filter(booking__request=other).count() == 0


def test_the_outbox_keeps_a_bookings_order_and_backs_off_then_fails():
    req = _case_request()
    booking = booking_create(request=req, slot=f.SlotFactory())
    booking_cancel(booking=booking, reason="test")
    first, second = _answers("appointment")
    assert [r.pk for r in outbox_due()] == [first.pk, second.pk]
    before = timezone.now()
    outbox_attempt_failed(first, "refused by the broker")
    first.refresh_from_db()
    assert round((first.next_attempt_at - before).total_seconds()) == 10
    assert outbox_due() == []  # the cancellation waits for the booking's report
    with time_machine.travel(timezone.now() + timedelta(seconds=11)):
        assert [r.pk for r in outbox_due()] == [first.pk, second.pk]
        moment = timezone.now()
        outbox_attempt_failed(first, "again")
    first.refresh_from_db()
    assert round((first.next_attempt_at - moment).total_seconds()) == 20  # doubling
    outbox_attempt_failed(first, "third")
    first.refresh_from_db()
    assert (first.status, first.attempts) == (ReportStatus.FAILED, 3)
    assert [r.pk for r in outbox_due()] == [second.pk]  # a failure no longer blocks
    outbox_sent(second)
    second.refresh_from_db()
    assert second.status == ReportStatus.SENT


def test_rc_ref_and_rs_error_from_the_lrm_mark_our_messages():
    req = _case_request()
    booking = booking_create(request=req, slot=f.SlotFactory())
    booking_cancel(booking=booking, reason="test")
    booked, cancelled = _answers("appointment")
    ack = m.envelope_build(
        sender_id=LRM_ID,
        recipient_id=RELAIS_ID,
        use_case="reference",
        content={"distributionID": booked.distribution_id},
        kind="Ack",
    )
    assert inbound_handle(body=body(ack), queue="ack").status == HubInboundStatus.RECORDED
    error = m.envelope_build(
        sender_id=LRM_ID,
        recipient_id=RELAIS_ID,
        use_case="error",
        content=m.error_content(
            status="INVALID_MESSAGE",
            cause="refusé par le LRM",
            referenced=cancelled.distribution_id,
            source=None,
        ),
        kind="Error",
    )
    inbound_handle(body=body(error), queue="info")
    booked.refresh_from_db()
    cancelled.refresh_from_db()
    assert booked.acked_at is not None
    assert (cancelled.status, cancelled.refused_code) == (ReportStatus.FAILED, 300)
    assert HubOutbound.objects.filter(use_case="error").count() == 0  # no error to an error
