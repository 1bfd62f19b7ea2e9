import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from relais.notifications.backends import HttpSmsBackend, SmsError
from relais.notifications.models import Notification, NotificationStatus
from relais.notifications.services import (
    booking_reminder_send,
    notification_deliver,
    notifications_deliver_pending,
)
from relais.notifications.tasks import deliver_notifications
from relais.orientation.services import booking_cancel, booking_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_it_delivers_sms_to_the_file_backend_and_email(settings, tmp_path, snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    counts = notifications_deliver_pending(only_orphans=False)
    assert counts == {"sent": 3}
    lines = [
        json.loads(line)
        for path in (tmp_path / "sms").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert {line["to"] for line in lines} == {"0639981234", "0639980000"}
    assert len(mail.outbox) == 1
    assert snp_request.patient.last_name not in mail.outbox[0].subject  # nothing sensitive
    assert not Notification.objects.exclude(status=NotificationStatus.SENT).exists()
    assert notification_deliver(notification_id=Notification.objects.first().pk) == "skipped"


def test_it_schedules_reminders_the_day_before_and_hours_before(snp_request):
    start = timezone.now() + timedelta(hours=30)
    booking = booking_create(request=snp_request, slot=f.SlotFactory(start=start))
    reminders = DBTaskResult.objects.filter(task_path__endswith="send_booking_reminder")
    run_after = sorted(r.run_after for r in reminders)
    assert run_after == [start - timedelta(hours=24), start - timedelta(hours=3)]
    assert booking_reminder_send(booking_id=booking.pk, hours_before=24) == "queued"
    reminder = Notification.objects.get(kind="reminder_24h")
    assert "rappel" in reminder.body and reminder.recipient == "0639981234"


def test_it_sends_no_reminder_for_a_cancelled_booking(snp_request):
    booking = booking_create(
        request=snp_request, slot=f.SlotFactory(start=timezone.now() + timedelta(hours=30))
    )
    booking_cancel(booking=booking, reason="guéri")
    assert booking_reminder_send(booking_id=booking.pk, hours_before=3) == "skipped"


def test_it_retries_a_failing_gateway_with_backoff(settings, snp_request):
    settings.RELAIS_SMS_BACKEND = "http"
    settings.RELAIS_SMS_HTTP_URL = "http://127.0.0.1:9/unreachable"  # discard port: refused
    booking_create(request=snp_request, slot=f.SlotFactory())
    sms = Notification.objects.filter(channel="sms").first()
    assert notification_deliver(notification_id=sms.pk) == "failed"
    sms.refresh_from_db()
    assert sms.status == NotificationStatus.PENDING and sms.attempts == 1
    assert "SmsError" in sms.last_error
    retries = DBTaskResult.objects.filter(
        task_path__endswith="deliver_notification",
        # Immediate tasks carry django-tasks-db's "no date" sentinel (the max date).
        run_after__range=(
            timezone.now() + timedelta(seconds=90),
            timezone.now() + timedelta(days=1),
        ),
    )
    assert retries.count() == 1


def test_the_booking_task_delivers_each_message_and_retries_a_failure_alone(
    settings, tmp_path, snp_request
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.RELAIS_SMS_BACKEND = "http"
    settings.RELAIS_SMS_HTTP_URL = "http://127.0.0.1:9/unreachable"  # SMS fail, e-mail works
    booking_create(request=snp_request, slot=f.SlotFactory())
    task = DBTaskResult.objects.get(task_path__endswith="deliver_notifications")
    outcomes = deliver_notifications.call(*task.args_kwargs["args"])
    assert outcomes == {"sent": 1, "failed": 2}
    assert len(mail.outbox) == 1
    assert Notification.objects.get(channel="email").status == NotificationStatus.SENT
    failed = Notification.objects.filter(channel="sms")
    assert {n.status for n in failed} == {NotificationStatus.PENDING}
    retries = DBTaskResult.objects.filter(task_path__endswith="deliver_notification")
    assert sorted(r.args_kwargs["args"][0] for r in retries) == sorted(n.pk for n in failed)


def test_it_refuses_a_non_http_gateway_url(settings):
    settings.RELAIS_SMS_HTTP_URL = "file:///etc/passwd"
    with pytest.raises(SmsError):
        HttpSmsBackend()
