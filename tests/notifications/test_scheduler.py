"""The worker pool: periodic jobs once per period across workers, tasks claimed once.

The concurrency tests run on PostgreSQL only (DATABASE_URL=postgres://…): several threads,
each with its own connection, race for the same PeriodicJob row or the same queue, as
several `relais run_worker` on several nodes do. On SQLite (one writer at a time) the race
cannot happen and they are skipped."""

import threading
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django_tasks_db.models import DBTaskResult

from relais.notifications import scheduler
from relais.notifications.management.commands import run_worker
from relais.notifications.models import PeriodicJob

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrency test: needs DATABASE_URL=postgres://…"
)


def _close_but_the_tests():
    if threading.current_thread() is not threading.main_thread():
        connections.close_all()


def _race(n_threads: int, target) -> list:
    """Run `target()` in n threads released together; each thread its own connection."""
    barrier = threading.Barrier(n_threads)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_a_daily_job_is_due_at_its_next_local_time():
    job = scheduler.Job("x", "t", at=dtime(3, 15))
    # 02:00 UTC on a winter day is 03:00 in Paris: due 15 minutes later, same day.
    now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert job.next_after(now) == datetime(2026, 12, 2, 2, 15, tzinfo=UTC)
    # 03:15 Paris itself: the next one is tomorrow.
    assert job.next_after(datetime(2026, 12, 2, 2, 15, tzinfo=UTC)) == datetime(
        2026, 12, 3, 2, 15, tzinfo=UTC
    )
    assert job.first_due(now) == job.next_after(now)
    interval = scheduler.Job("y", "t", every=timedelta(seconds=60))
    assert interval.first_due(now) == now


def test_every_periodic_job_of_the_timers_is_scheduled():
    names = {j.name for j in scheduler.jobs()}
    assert names == {
        "holds_expire",
        "level2_checks",
        "partners_poll",
        "bulk_publish",
        "materialise_slots",
        "anonymise_patients",
    }
    from django.utils.module_loading import import_string

    for job in scheduler.jobs():  # each names a real task
        assert import_string(job.task_path).name


@pytest.mark.django_db
def test_run_due_queues_each_due_job_once_then_nothing_until_the_next_period(settings):
    settings.RELAIS_PERIODIC_JOBS_OFF = ["materialise_slots", "anonymise_patients"]
    t0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    first = scheduler.run_due(worker_id="a", now=t0)
    assert sorted(first) == ["bulk_publish", "holds_expire", "level2_checks", "partners_poll"]
    assert scheduler.run_due(worker_id="b", now=t0 + timedelta(seconds=30)) == []
    later = scheduler.run_due(worker_id="b", now=t0 + timedelta(seconds=61))
    assert sorted(later) == ["holds_expire", "level2_checks", "partners_poll"]
    paths = list(DBTaskResult.objects.values_list("task_path", flat=True))
    assert paths.count("relais.orientation.tasks.expire_holds") == 2
    assert paths.count("relais.interop.tasks.publish_bulk") == 1
    assert PeriodicJob.objects.get(name="holds_expire").last_worker_id == "b"


@pytest.mark.django_db
def test_the_queued_periodic_tasks_run(settings):
    settings.RELAIS_PERIODIC_JOBS_OFF = ["materialise_slots", "anonymise_patients"]
    scheduler.run_due(worker_id="a")
    worker = run_worker.ResilientWorker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="w",
        sweep_interval=0,
        heartbeat_interval=60,
        max_backoff=1,
        excluded_queue_names=[],
    )
    with (
        mock.patch.object(run_worker, "close_old_connections"),  # (PostgreSQL: the test's)
        mock.patch.object(run_worker, "_close_all_connections", _close_but_the_tests),
    ):
        worker.run()
    statuses = dict(DBTaskResult.objects.values_list("task_path", "status"))
    assert set(statuses.values()) == {"SUCCESSFUL"}, statuses


@pytest.mark.django_db
def test_run_periodic_if_due_shares_the_workers_period(settings):
    settings.RELAIS_PERIODIC_JOBS_OFF = []
    out = []
    call_command("run_periodic", "holds_expire", "--if-due", stdout=_Sink(out))
    assert out[-1].startswith("holds_expire: 0")
    call_command("run_periodic", "holds_expire", "--if-due", stdout=_Sink(out))
    assert "not due" in out[-1]
    assert scheduler.run_due(worker_id="w") and "holds_expire" not in scheduler.run_due(
        worker_id="w"
    )
    with pytest.raises(CommandError, match="inconnue"):
        call_command("run_periodic", "nope")


class _Sink:
    def __init__(self, lines):
        self.lines = lines

    def write(self, text, *a, **k):
        self.lines.append(text.strip())

    def flush(self):
        pass


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_eight_workers_racing_start_each_job_once_per_period(settings):
    settings.RELAIS_PERIODIC_JOBS_OFF = ["materialise_slots", "anonymise_patients"]
    t0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    started = []
    for period in range(3):  # three periods of 60 s (holds, niveau 2, partners)
        now = t0 + timedelta(seconds=61 * period)
        results = _race(8, lambda now=now: scheduler.run_due(worker_id="w", now=now))
        started.append(sorted(name for r in results for name in r))
    expected_interval = ["holds_expire", "level2_checks", "partners_poll"]
    assert started[0] == sorted([*expected_interval, "bulk_publish"])
    assert started[1] == expected_interval  # once each, not 8 times
    assert started[2] == expected_interval
    paths = list(DBTaskResult.objects.values_list("task_path", flat=True))
    assert paths.count("relais.orientation.tasks.expire_holds") == 3
    assert paths.count("relais.interop.tasks.publish_bulk") == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_claim_elects_one_winner_among_sixteen():
    PeriodicJob.objects.create(name="race", next_run_at=datetime(2026, 1, 1, tzinfo=UTC))
    from relais.notifications.services import periodic_job_claim

    wins = _race(16, lambda: periodic_job_claim(name="race", interval_seconds=60))
    assert wins.count(True) == 1 and wins.count(False) == 15


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_workers_claim_every_task_of_one_queue_exactly_once():
    """django-tasks-db takes the next row with SELECT … FOR UPDATE SKIP LOCKED on
    PostgreSQL: two workers (threads, own connections) draining one queue claim each
    task once, and both get work (the second skips the row the first has locked)."""
    from relais.core.queue import enqueue

    n = 60
    for _ in range(n):
        enqueue("relais.orientation.tasks.expire_holds")
    claimed: dict[str, list] = {"a": [], "b": []}

    def drain(worker_id):
        w = run_worker.ResilientWorker(
            queue_names=["default"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            sweep_interval=0,
            heartbeat_interval=60,
            max_backoff=1,
            excluded_queue_names=[],
        )
        while True:
            row, _ = w._next_task()
            if row is None:
                return worker_id
            claimed[worker_id].append(row.pk)

    ids = iter(["a", "b"])
    lock = threading.Lock()

    def target():
        with lock:
            wid = next(ids)
        return drain(wid)

    _race(2, target)
    everything = claimed["a"] + claimed["b"]
    assert len(everything) == n and len(set(everything)) == n  # no duplicate, none lost
    assert claimed["a"] and claimed["b"]  # both drained the queue
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        drain("c")
    assert any("FOR UPDATE SKIP LOCKED" in q["sql"] for q in queries.captured_queries)
