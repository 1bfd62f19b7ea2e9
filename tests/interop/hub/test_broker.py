"""Against a real broker standing for the Hub (conftest.Broker: RabbitMQ, TLS, client
certificates): RS-EDA cases in, requests and RC-REF, bookings and their RS-SAS-RDV out;
then the fault drill (a broker restart in the middle, duplicated deliveries): every case
becomes exactly one request, every status change exactly one message."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from relais.interop.hub.client import HubSettings
from relais.interop.hub.consumer import HubConsumer
from relais.interop.models import HubCase, HubInbound, HubOutbound, ReportStatus
from relais.orientation.services import booking_cancel, booking_create, booking_record_outcome
from relais.regulation.models import Request
from tests import factories as f
from tests.interop.hub.conftest import AMQPS_PORT, VHOST
from tests.interop.hub.lrm import LRM_ID, RELAIS_ID, case_envelope, content_of, use_case_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub_settings(settings, broker, cpts_a):
    settings.RELAIS_HUB_CLIENT_ID = RELAIS_ID
    settings.RELAIS_HUB_RETRY_SECONDS = 1
    settings.RELAIS_HUB_MAX_ATTEMPTS = 10
    broker.purge()
    pki = broker.pki
    return HubSettings(
        client_id=RELAIS_ID,
        host="localhost",
        port=AMQPS_PORT,
        vhost=VHOST,
        cert=str(pki / "relais.pem"),
        key=str(pki / "relais.key"),
        ca=str(pki / "ca.pem"),
    )


@pytest.fixture
def consumer(hub_settings):
    from relais.regulation.matching import get_matcher

    get_matcher()  # built once, before the clock starts
    consumer = HubConsumer(hub_settings, poll_seconds=0.2)
    thread = threading.Thread(target=_run, args=(consumer,), daemon=True)
    thread.start()
    yield consumer
    consumer.stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def _run(consumer):
    try:
        consumer.run()
    finally:
        connection.close()


def _wait(predicate, timeout=120, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _by_use_case(published):
    out = {}
    for routing_key, envelope in published:
        assert routing_key == RELAIS_ID == envelope["senderID"]  # the Hub's sender check
        out.setdefault(use_case_of(envelope), []).append(envelope)
    return out


def test_cases_become_requests_acknowledged_then_bookings_are_reported(broker, consumer):
    cases = [case_envelope() for _ in range(3)]
    for envelope in cases:
        broker.deliver(envelope)
    broker.deliver(cases[0])  # the same distributionID again
    _wait(lambda: HubInbound.objects.filter(duplicates=1).exists(), what="the duplicate")
    assert Request.objects.count() == 3
    published = _by_use_case(broker.published(timeout=30, until=lambda out: len(out) >= 4))
    acked = Counter(content_of(e)["distributionID"] for e in published["reference"])
    assert acked == Counter(
        {cases[0]["distributionID"]: 2, **{c["distributionID"]: 1 for c in cases[1:]}}
    )
    assert {
        e["descriptor"]["explicitAddress"]["explicitAddressValue"] for e in published["reference"]
    } == {LRM_ID}

    first, second = (
        HubCase.objects.get(case_id=content_of(c)["caseId"]).request for c in cases[:2]
    )
    booked = booking_create(request=first, slot=f.SlotFactory())
    booking_cancel(booking=booked, reason="le patient a trouvé ailleurs")
    seen = booking_create(request=second, slot=f.SlotFactory())
    with time_machine.travel(timezone.now() + timedelta(hours=4), tick=True):
        booking_record_outcome(booking=seen, outcome="noshow")
    published = _by_use_case(broker.published(timeout=60, until=lambda out: len(out) >= 4))
    reports = [content_of(e) for e in published["appointment"]]
    assert [(r["appointmentId"], r["status"], r["method"]) for r in reports] == [
        (str(booked.public_id), "booked", "CreateAppointment"),
        (str(booked.public_id), "cancelled", "UpdateAppointment"),
        (str(seen.public_id), "booked", "CreateAppointment"),
        (str(seen.public_id), "noshow", "UpdateAppointment"),
    ]
    assert HubOutbound.objects.exclude(status=ReportStatus.SENT).count() == 0


def test_a_malformed_and_an_expired_case_get_the_hubs_errors(broker, consumer):
    bad = case_envelope()
    content_of(bad)["perimeter"] = "SAS"
    broker.deliver(bad)
    broker.deliver(case_envelope(expires_in=-5))
    published = _by_use_case(broker.published(timeout=60, until=lambda out: len(out) >= 2))
    codes = sorted(content_of(e)["errorCode"]["statusCode"] for e in published["error"])
    assert codes == [300, 400]
    assert all(e["distributionKind"] == "Error" for e in published["error"])
    assert Request.objects.count() == 0
    assert HubInbound.objects.filter(status="malformed", error_code=300).get().body


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the consumer thread and the bookings write at once: SQLite locks the table "
    '("database table is locked"); the connector runs on PostgreSQL, as in CI',
)
def test_fault_drill_broker_restart_and_duplicated_deliveries(broker, consumer, capsys):
    n = 30
    cases = [case_envelope() for _ in range(n)]
    conn = broker.connect()
    for envelope in cases:
        broker.deliver(envelope, connection=conn)
        broker.deliver(envelope, connection=conn)  # every case delivered twice
    conn.close()
    _wait(lambda: Request.objects.count() >= 5, what="the first requests")
    broker.restart()  # in the middle of the run: deliveries in hand are given again
    _wait(lambda: Request.objects.count() == n, timeout=300, what="all the requests")
    requests = list(Request.objects.order_by("pk"))
    # While the broker is down, bookings change: their reports wait in the outbox.
    broker.ctl("stop_app")
    bookings = [booking_create(request=req, slot=f.SlotFactory()) for req in requests[:10]]
    for booking in bookings[:5]:
        booking_cancel(booking=booking, reason="exercice")
    time.sleep(2)
    broker.ctl("start_app")
    expected_reports = 15
    _wait(
        lambda: (
            HubOutbound.objects.filter(use_case="appointment", status=ReportStatus.SENT).count()
            == expected_reports
        ),
        timeout=300,
        what="the reports",
    )
    published = _by_use_case(
        broker.published(
            timeout=120,
            until=lambda out: (
                sum(use_case_of(e) == "appointment" for _, e in out) >= expected_reports
            ),
        )
    )
    assert Request.objects.count() == n  # exactly one request per case
    assert HubCase.objects.count() == n
    assert HubInbound.objects.filter(status="integrated").count() == n
    duplicates = sum(HubInbound.objects.values_list("duplicates", flat=True))
    assert duplicates >= n  # every second delivery was recognised
    refs = Counter(content_of(e)["distributionID"] for e in published["reference"])
    assert set(refs) == {c["distributionID"] for c in cases}
    reports = Counter(
        (content_of(e)["appointmentId"], content_of(e)["status"]) for e in published["appointment"]
    )
    assert len(reports) == expected_reports
    assert set(reports.values()) == {1}  # every status change exactly one message
    attempts = sum(HubOutbound.objects.values_list("attempts", flat=True))
    with capsys.disabled():
        print(
            f"\nfault drill: {n} cases x2 deliveries, 1 broker restart mid-run + 1 outage "
            f"during bookings; requests {Request.objects.count()}, duplicates recognised "
            f"{duplicates}, RC-REF sent {sum(refs.values())} (distinct {len(refs)}), "
            f"RS-SAS-RDV {sum(reports.values())} for {expected_reports} changes, connections "
            f"{consumer.connections}, publish failures {consumer.publish_failures}, outbox "
            f"attempts {attempts} for {HubOutbound.objects.count()} messages"
        )


def test_throughput_and_time_to_the_worklist(broker, consumer, capsys, olivia):
    """The note's figures: messages per second the consumer handles, and the time from an
    RS-EDA put in our queue to its request on the worklist (RELAIS_HUB_BENCH_N cases)."""
    import os
    import statistics

    from relais.accounts.permissions import scope_for
    from relais.regulation.selectors import requests_worklist

    n = int(os.environ.get("RELAIS_HUB_BENCH_N", "40"))
    cases = [case_envelope() for _ in range(n)]
    sent_at = {}
    conn = broker.connect()
    start = time.time()
    for envelope in cases:
        sent_at[content_of(envelope)["caseId"]] = time.time()
        broker.deliver(envelope, connection=conn)
    conn.close()
    worklist = requests_worklist(scope=scope_for(olivia)).filter(hub_case__isnull=False)
    _wait(lambda: worklist.count() == n, timeout=600, what="all the requests on the worklist")
    elapsed = time.time() - start
    latencies = sorted(
        (case.request.created_at.timestamp() - sent_at[case.case_id])
        for case in HubCase.objects.select_related("request")
    )
    assert len(latencies) == n and all(lat > 0 for lat in latencies)
    with capsys.disabled():
        print(
            f"\nhub throughput: {n} RS-EDA in {elapsed:.1f} s = {n / elapsed:.1f} msg/s; "
            f"RS-EDA -> request: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {latencies[int(0.95 * (n - 1))] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )
