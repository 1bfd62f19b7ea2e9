"""The task system survives crashes: leases, idempotent delivery, the sweep."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from relais.notifications.models import Notification, NotificationStatus, WorkerHeartbeat
from relais.notifications.services import (
    UNCERTAIN_ERROR,
    booking_reminder_send,
    notification_deliver,
    notifications_deliver_pending,
    notifications_fail_stale_claims,
    periodic_job_claim,
    sweep_run,
    tasks_reclaim_stale,
)
from relais.orientation.services import booking_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def _sms_lines(tmp_path):
    return [
        line
        for path in (tmp_path / "sms").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]


def _crash_running(task, *, worker_id="dead-worker", minutes_ago=10):
    """What a worker killed with -9 leaves: its claimed task RUNNING."""
    DBTaskResult.objects.filter(pk=task.pk).update(
        status=TaskResultStatus.RUNNING,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
        worker_ids=[worker_id],
    )


def test_it_reclaims_a_task_left_running_by_a_dead_worker(snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    task = DBTaskResult.objects.get(task_path__endswith="deliver_notifications")
    _crash_running(task)
    assert tasks_reclaim_stale(lease_seconds=60) == 1
    task.refresh_from_db()
    assert task.status == TaskResultStatus.FAILED
    assert task.exception_class_path.endswith("LeaseExpired")
    again = DBTaskResult.objects.get(task_path__endswith="deliver_notifications", status="READY")
    assert again.args_kwargs == task.args_kwargs and again.worker_ids == ["dead-worker"]
    assert tasks_reclaim_stale(lease_seconds=60) == 0  # once


def test_it_leaves_alone_a_long_task_of_a_live_worker(snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    task = DBTaskResult.objects.get(task_path__endswith="deliver_notifications")
    _crash_running(task, worker_id="alive")
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="alive", started_at=now, last_seen=now)
    assert tasks_reclaim_stale(lease_seconds=60) == 0
    # ...but the same worker, restarting under its fixed id, takes it back at once.
    assert tasks_reclaim_stale(worker_id="alive") == 1


def test_it_never_sends_a_message_twice_when_its_task_runs_twice(tmp_path, snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    ids = list(Notification.objects.values_list("pk", flat=True))
    assert [notification_deliver(notification_id=pk) for pk in ids] == ["sent"] * 3
    assert [notification_deliver(notification_id=pk) for pk in ids] == ["skipped"] * 3
    assert len(_sms_lines(tmp_path)) == 2


def test_it_does_not_resend_a_message_claimed_by_a_worker_that_died(tmp_path, snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    sms = Notification.objects.filter(channel="sms").first()
    # Killed between the claim and the outcome: row left "sending".
    Notification.objects.filter(pk=sms.pk).update(
        status=NotificationStatus.SENDING, claimed_at=timezone.now() - timedelta(minutes=10)
    )
    assert notification_deliver(notification_id=sms.pk) == "skipped"
    assert notifications_fail_stale_claims(lease_seconds=60) == 1
    sms.refresh_from_db()
    assert sms.status == NotificationStatus.FAILED and sms.last_error == UNCERTAIN_ERROR
    assert notification_deliver(notification_id=sms.pk) == "skipped"


def test_the_sweep_sends_messages_whose_task_was_lost_and_only_those(tmp_path, snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    assert notifications_deliver_pending() == {}  # their task is alive: left to it
    DBTaskResult.objects.filter(task_path__endswith="deliver_notifications").delete()
    result = sweep_run()
    assert result["orphans"] == {"sent": 3}
    assert len(_sms_lines(tmp_path)) == 2


def test_the_sweep_reclaims_and_the_reclaimed_task_delivers_once(tmp_path, snp_request):
    from relais.notifications.tasks import deliver_notifications

    booking_create(request=snp_request, slot=f.SlotFactory())
    task = DBTaskResult.objects.get(task_path__endswith="deliver_notifications")
    _crash_running(task, minutes_ago=60)
    result = sweep_run()
    assert result["tasks_reclaimed"] == 1
    assert result["orphans"] == {}  # the new task covers them
    again = DBTaskResult.objects.get(task_path__endswith="deliver_notifications", status="READY")
    assert deliver_notifications.call(*again.args_kwargs["args"]) == {"sent": 3}
    assert deliver_notifications.call(*again.args_kwargs["args"]) == {"skipped": 3}
    assert len(_sms_lines(tmp_path)) == 2


def test_the_periodic_job_runs_once_per_interval_across_workers(db):
    assert periodic_job_claim(name="sweep", interval_seconds=60, worker_id="w1") is True
    assert periodic_job_claim(name="sweep", interval_seconds=60, worker_id="w2") is False
    assert periodic_job_claim(name="sweep", interval_seconds=60, worker_id="w1") is False


def test_a_reminder_task_run_twice_writes_one_reminder(snp_request):
    booking = booking_create(
        request=snp_request, slot=f.SlotFactory(start=timezone.now() + timedelta(hours=30))
    )
    assert booking_reminder_send(booking_id=booking.pk, hours_before=24) == "queued"
    assert booking_reminder_send(booking_id=booking.pk, hours_before=24) == "skipped"
    assert Notification.objects.filter(kind="reminder_24h").count() == 1


def test_it_gives_each_message_the_territory_of_its_request(snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    territories = set(Notification.objects.values_list("sas_id", "cpts_id"))
    assert territories == {(snp_request.sas_id, snp_request.cpts_id)}
