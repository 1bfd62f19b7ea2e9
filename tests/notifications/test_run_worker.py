"""`relais run_worker` survives a database outage and takes back its own tasks."""

import threading
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import OperationalError, connections
from django_tasks_db.models import DBTaskResult

from relais.notifications.management.commands import run_worker
from relais.notifications.models import Notification, WorkerHeartbeat
from relais.orientation.services import booking_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def _close_but_the_tests():
    """The worker closes its connections after a database error; the test's own (holding
    the test transaction) stays open, the heartbeat thread's are closed as in production
    (else PostgreSQL cannot drop the test database)."""
    if threading.current_thread() is not threading.main_thread():
        connections.close_all()


def _worker(**kw):
    opts = dict(
        queue_names=["default"], interval=0, batch=True, backend_name="default",
        startup_delay=False, max_tasks=None, worker_id="w-test", excluded_queue_names=[],
        sweep_interval=0, heartbeat_interval=0.05, max_backoff=0.01,
    )  # fmt: skip
    opts.update(kw)
    return run_worker.ResilientWorker(**opts)


def test_it_keeps_running_through_a_database_outage(snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    worker = _worker()
    real = worker._next_task
    failures = iter([OperationalError("the database system is shutting down")] * 3)

    def flaky():
        error = next(failures, None)
        if error is not None:
            raise error
        return real()

    with (
        mock.patch.object(worker, "_next_task", side_effect=flaky),
        mock.patch.object(run_worker, "_close_all_connections", _close_but_the_tests),
        mock.patch.object(run_worker, "close_old_connections"),  # (PostgreSQL closes it)
        mock.patch.object(run_worker.time, "sleep"),
    ):
        worker.run()
    assert worker.reconnections == 3
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert not WorkerHeartbeat.objects.filter(worker_id="w-test").exists()  # clean stop


def test_a_task_interrupted_by_the_database_goes_back_to_the_queue(snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    worker = _worker(max_tasks=1)
    calls = []

    def deliver(*, notification_id):
        calls.append(notification_id)
        if len(calls) == 1:
            raise OperationalError("connection lost")
        return "sent"

    with (
        mock.patch("relais.notifications.services.notification_deliver", side_effect=deliver),
        mock.patch.object(run_worker, "_close_all_connections", _close_but_the_tests),
        mock.patch.object(run_worker, "close_old_connections"),
        mock.patch.object(run_worker.time, "sleep"),
    ):
        worker.run()
    first = DBTaskResult.objects.filter(task_path__endswith="deliver_notifications")
    statuses = sorted(first.values_list("status", flat=True))
    # The interrupted row is closed as LeaseExpired and a copy ran to the end.
    assert statuses == ["FAILED", "SUCCESSFUL"]
    assert worker.reconnections == 1


def test_the_command_runs_a_batch(snp_request):
    booking_create(request=snp_request, slot=f.SlotFactory())
    with (  # keep the test transaction (PostgreSQL drops a connection left in atomic)
        mock.patch.object(run_worker, "_close_all_connections", _close_but_the_tests),
        mock.patch.object(run_worker, "close_old_connections"),
    ):
        call_command(
            "run_worker", batch=True, interval=0, startup_delay=False, sweep=0, verbosity=0
        )
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
