"""Messages that failed for good: a page scoped to the message's territory, "Renvoyer"
(POST, audited), and the counts in /healthz."""

import pytest
from django.test import Client
from django.utils import timezone

from relais.accounts.models import Role
from relais.audit.models import AuditEvent
from relais.notifications.models import Notification, NotificationStatus, WorkerHeartbeat
from relais.notifications.services import MAX_ATTEMPTS, notification_deliver
from relais.orientation.services import booking_create
from tests import factories as f
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_sms(settings, snp_request):
    """SMS gateway down for every attempt: the booking's SMS fail for good."""
    settings.RELAIS_SMS_BACKEND = "http"
    settings.RELAIS_SMS_HTTP_URL = "http://127.0.0.1:9/unreachable"
    booking_create(request=snp_request, slot=f.SlotFactory())
    sms = Notification.objects.filter(channel="sms").first()
    for _ in range(MAX_ATTEMPTS):
        Notification.objects.filter(pk=sms.pk, status="failed").update(status="pending")
        notification_deliver(notification_id=sms.pk)
    sms.refresh_from_db()
    assert sms.status == NotificationStatus.FAILED
    return sms


def test_it_shows_a_failed_message_to_its_territorys_admin_and_resends_it(
    client, settings, tmp_path, failed_sms, sas91
):
    admin = f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)
    login(client, admin)
    page = client.get("/messages-en-echec/")
    assert page.status_code == 200 and str(failed_sms.public_id) in page.content.decode()
    settings.RELAIS_SMS_BACKEND = "file"  # the gateway is back
    response = client.post(f"/messages-en-echec/{failed_sms.public_id}/renvoyer/")
    assert response.status_code == 302
    failed_sms.refresh_from_db()
    assert failed_sms.status == NotificationStatus.PENDING
    assert notification_deliver(notification_id=failed_sms.pk) == "sent"
    assert AuditEvent.objects.filter(action="resend", object_id=str(failed_sms.public_id)).exists()


def test_it_hides_another_territorys_failed_message(client, failed_sms, coralie, oscar):
    for user in (coralie, oscar):  # CPTS B coordinator, SAS 43 operator
        client.force_login(user)
        page = client.get("/messages-en-echec/")
        assert str(failed_sms.public_id) not in page.content.decode()
        response = client.post(f"/messages-en-echec/{failed_sms.public_id}/renvoyer/")
        assert response.status_code in (403, 404)
    failed_sms.refresh_from_db()
    assert failed_sms.status == NotificationStatus.FAILED


def test_the_cpts_coordinator_sees_the_failed_messages_of_the_cpts(client, failed_sms, cpts_a):
    coordinator = f.member(f.UserFactory(username="cora"), Role.COORDINATEUR, cpts=cpts_a)
    login(client, coordinator)
    assert str(failed_sms.public_id) in client.get("/messages-en-echec/").content.decode()


def test_healthz_counts_without_personal_data(failed_sms):
    client = Client()
    response = client.get("/healthz")
    assert response.status_code == 503  # no worker heartbeat
    assert response.json()["worker"] == "absent"
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w1", started_at=now, last_seen=now)
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["failed_for_good"] == 1 and body["database"] == "ok"
    assert body["pending_backlog"] == Notification.objects.filter(status="pending").count()
    assert failed_sms.recipient not in response.content.decode()
