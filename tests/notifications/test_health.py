"""/healthz: per-worker heartbeats, outbox ages, replica lag; counts and ages only."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from relais.notifications.models import Notification, WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_healthz_lists_each_worker_and_the_oldest_unsent_message(settings):
    settings.RELAIS_WORKER_STALE_SECONDS = 60
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="node1-1", started_at=now, last_seen=now)
    WorkerHeartbeat.objects.create(
        worker_id="node2-1", started_at=now, last_seen=now - timedelta(minutes=5)
    )
    message = Notification.objects.create(
        kind="booking_created", channel="sms", recipient="+33612345678", body="Bonjour Dupont"
    )
    Notification.objects.filter(pk=message.pk).update(created_at=now - timedelta(seconds=120))
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 200 and body["workers"] == 1
    by_id = {w["worker_id"]: w for w in body["worker_heartbeats"]}
    assert by_id["node1-1"]["fresh"] is True
    assert by_id["node2-1"]["fresh"] is False and by_id["node2-1"]["age_seconds"] >= 300
    assert 119 <= body["oldest_unsent_notification_age_seconds"] < 200
    assert body["sas_reports_pending"] == 0
    assert body["oldest_pending_sas_report_age_seconds"] is None
    assert "replica" not in body  # no REPLICA_DATABASE_URL
    text = response.content.decode()
    assert "+33612345678" not in text and "Dupont" not in text


def test_healthz_counts_the_pending_sas_reports():
    from relais.interop.models import SasReport

    fields = {f.name for f in SasReport._meta.get_fields()}
    assert {"status", "created_at"} <= fields
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w", started_at=now, last_seen=now)
    with mock.patch("relais.notifications.selectors._sas_reports_pending", return_value=(3, 42.0)):
        body = Client().get("/healthz").json()
    assert body["sas_reports_pending"] == 3 and body["oldest_pending_sas_report_age_seconds"] == 42


def test_healthz_reports_the_replica_verdict_without_failing_on_it(settings):
    from relais.core import db_routing

    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w", started_at=now, last_seen=now)
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    lagging = db_routing.Verdict(False, "lag 12.0 s > 5 s", 12.04, 4096)
    with mock.patch.object(db_routing.health, "verdict", return_value=lagging):
        response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 200  # reads fall back to the primary: still healthy
    assert body["replica"] == {
        "usable": False,
        "reason": "lag 12.0 s > 5 s",
        "lag_seconds": 12.0,
        "lag_bytes": 4096,
    }
    with mock.patch.object(db_routing.health, "verdict", side_effect=RuntimeError("down")):
        body = Client().get("/healthz").json()
    assert body["replica"]["usable"] is False and body["replica"]["lag_seconds"] is None
