"""Request ids, JSON logs without patient data, Prometheus metrics and who may read them."""

import io
import json
import logging

import pytest
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from relais.core import observability
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_valid_proxy_request_id_is_kept_and_a_bad_one_replaced():
    client = Client()
    kept = client.get("/api/v1/health", HTTP_X_REQUEST_ID="nginx-4f2a9c1e-77")
    assert kept["X-Request-ID"] == "nginx-4f2a9c1e-77"
    for bad in ["", "short", "a b c d e f g h", "x" * 200, "<script>alert(1)</script>"]:
        replaced = client.get("/api/v1/health", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert replaced != bad and len(replaced) == 32 and replaced.isalnum()


@pytest.fixture
def json_log():
    """The settings' console pipeline (request id filter, JSON formatter) into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(observability.RequestIdFilter())
    from relais.core.logging import StripQueryStringFilter

    handler.addFilter(StripQueryStringFilter())
    handler.setFormatter(observability.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_json_logs_of_a_request_with_a_patient_carry_its_id_and_no_patient_data(
    client, olivia, json_log, settings
):
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    patient = f.PatientFactory(
        first_name="Gwendoline",
        last_name="Quenouillère",
        phone="0611223344",
        ins_nir="285017512345612",
    )
    f.RequestFactory(patient=patient)
    client.force_login(olivia)
    lookup = client.post(
        reverse("regulation:patient_lookup"),
        {"last_name": "Quenouillère", "phone": "0611223344"},
        HTTP_X_REQUEST_ID="req-0123456789",
    )
    assert lookup.status_code == 200 and "Quenouillère" in lookup.content.decode()
    # A 404 with the identity in the query string (an old bookmark): logged by Django.
    missing = client.get(
        "/nulle-part/?last_name=Quenouillère&phone=0611223344&nir=285017512345612",
        HTTP_X_REQUEST_ID="req-9876543210",
    )
    assert missing.status_code == 404
    logging.getLogger("relais.test").warning("inside no request")
    lines = [line for line in json_log.getvalue().splitlines() if line]
    records = [json.loads(line) for line in lines]  # one JSON object per line
    assert {"time", "level", "logger", "message", "request_id"} <= set(records[0])
    not_found = [r for r in records if "Not Found" in r["message"]]
    assert not_found and not_found[0]["request_id"] == "req-9876543210"
    assert records[-1]["request_id"] == ""
    text = json_log.getvalue()
    for value in ["Quenouill", "Gwendoline", "0611223344", "285017512345612"]:
        assert value not in text


def _scrape(client, **extra):
    response = client.get("/metrics", **extra)
    return response, {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    } if response.status_code == 200 else {}


def test_metrics_are_for_the_configured_addresses_or_the_token(settings):
    settings.RELAIS_METRICS_ALLOWED_IPS = ["127.0.0.1"]
    settings.RELAIS_METRICS_TOKEN = "s3cr3t-token-for-prometheus"
    client = Client()
    assert client.get("/metrics").status_code == 200  # test client: 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    # Through the reverse proxy (127.0.0.1 with X-Forwarded-For): a remote client.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    token = {"HTTP_AUTHORIZATION": "Bearer s3cr3t-token-for-prometheus"}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **token).status_code == 200
    wrong = {"HTTP_AUTHORIZATION": "Bearer nope"}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **wrong).status_code == 403
    settings.RELAIS_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_metrics_count_bookings_and_time_the_routes(
    client, olivia, cpts_a, django_capture_on_commit_callbacks
):
    anonymous = Client()
    _, before = _scrape(anonymous)
    slot = f.SlotFactory()
    request = f.RequestFactory()
    client.force_login(olivia)
    url = reverse("orientation:book", args=[request.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, {"slot": slot.public_id})
    assert first.status_code in (200, 302, 204)
    from relais.orientation.models import Booking

    assert Booking.objects.filter(slot=slot).count() == 1
    other = f.RequestFactory()
    again = client.post(
        reverse("orientation:book", args=[other.public_id]), {"slot": slot.public_id}
    )
    anonymous.get("/fhir/Slot")
    response, after = _scrape(anonymous)
    assert response.status_code == 200

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert again.status_code == 200  # the UI answers the slot list again, not a 409
    assert delta("relais_bookings_created_total", channel="ui") == 1
    assert delta("relais_request_duration_seconds_count", route="fhir:slot_search") == 1
    assert delta("relais_request_duration_seconds_count", route="orientation:book") == 2
    text = response.content.decode()
    assert 'relais_outbox_depth{outbox="notifications"}' in text
    assert "relais_outbox_oldest_age_seconds" in text
    assert request.patient.last_name not in text and request.patient.phone not in text


class _Resolved:
    def __init__(self, name):
        self.view_name = name


class _Request:
    def __init__(self, path, name, method="POST"):
        self.path, self.method, self.resolver_match = path, method, _Resolved(name)


class _Response:
    def __init__(self, status):
        self.status_code = status


def _value(metric, *labels):
    return metric.labels(*labels)._value.get()


def test_the_middleware_counts_409_refusals_and_holds_by_route_name_only():
    middleware = observability.MetricsMiddleware(lambda request: None)
    refused = _value(observability.BOOKINGS_REFUSED, "api:create_booking")
    held, hold_refused = (_value(observability.HOLDS, o) for o in ("held", "refused"))
    other = observability.REQUEST_SECONDS.labels("other_api")._sum.get()
    middleware._observe(_Request("/api/v1/bookings", "api:create_booking"), _Response(409), 0.2)
    middleware._observe(_Request("/api/v1/bookings", "api:create_booking"), _Response(201), 0.1)
    middleware._observe(_Request("/api/v1/holds", "api:create_hold"), _Response(201), 0.1)
    middleware._observe(_Request("/api/v1/holds", "api:create_hold"), _Response(409), 0.1)
    middleware._observe(_Request("/api/v1/x/42", "api:something_else"), _Response(200), 0.5)
    assert _value(observability.BOOKINGS_REFUSED, "api:create_booking") == refused + 1
    assert _value(observability.HOLDS, "held") == held + 1
    assert _value(observability.HOLDS, "refused") == hold_refused + 1
    # An untimed route is filed under its area: no route label per URL.
    assert observability.REQUEST_SECONDS.labels("other_api")._sum.get() == pytest.approx(
        other + 0.5
    )
