"""`relais run_worker`: django-tasks-db's worker, made to survive.

Differences from `relais db_worker` (same options, same task rows):
- a database error (PostgreSQL restarted, network cut) does not kill it: it closes its
  connections, backs off (1 s doubling up to --max-backoff, with jitter), reconnects and
  goes on; a task interrupted by the outage is put back in the queue, not marked failed;
- a heartbeat row (WorkerHeartbeat) every --heartbeat seconds, from a thread, so the
  sweep knows which RUNNING tasks belong to a dead worker, and /healthz shows its age;
- at start and after each reconnection it reclaims the RUNNING tasks of its own worker
  id (with a fixed id per systemd instance, a worker killed with -9 and restarted picks
  its task back up at once, without waiting for the lease);
- every --sweep seconds it offers to run the periodic sweep; one worker of the pool runs
  it per interval (relais.notifications.services.sweep_if_due);
- every --schedule seconds it looks for due periodic jobs (holds, niveau 2, partners,
  bulk files, agenda horizon, retention: relais.notifications.scheduler) and queues each
  one whose period it won; --schedule 0 turns that off.
"""

import contextlib
import logging
import random
import threading
import time

from django.db import close_old_connections, connections
from django.db.utils import InterfaceError, OperationalError
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from relais.notifications import scheduler, services

logger = logging.getLogger("relais.worker")
DB_ERRORS = (OperationalError, InterfaceError)


def _close_all_connections() -> None:
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a dead socket may fail to close: drop it anyway
            conn.connection = None


class DatabaseUnavailable(Exception):
    """Raised inside a task run when the database failed under it."""


class ResilientWorker(Worker):
    def __init__(
        self,
        *,
        sweep_interval: float,
        heartbeat_interval: float,
        max_backoff: float,
        schedule_interval: float = 0.0,  # off unless asked (the command: settings)
        **kw,
    ):
        super().__init__(**kw)
        self.sweep_interval = sweep_interval
        self.schedule_interval = schedule_interval
        self.next_schedule = 0.0
        self.heartbeat_interval = heartbeat_interval
        self.max_backoff = max_backoff
        self.next_sweep = 0.0
        self.started_at = None
        self.reconnections = 0
        self._stop = threading.Event()

    # --- heartbeat -----------------------------------------------------------------------

    def _beat_forever(self) -> None:
        while not self._stop.is_set():
            try:
                services.worker_heartbeat(worker_id=self.worker_id, started_at=self.started_at)
            except DB_ERRORS:
                _close_all_connections()  # this thread's own connection
            except Exception:  # noqa: BLE001 - never let the heartbeat thread die
                logger.exception("heartbeat failed")
            self._stop.wait(self.heartbeat_interval)
        _close_all_connections()

    # --- the loop ------------------------------------------------------------------------

    def _recover_own_tasks(self) -> None:
        reclaimed = services.tasks_reclaim_stale(worker_id=self.worker_id)
        if reclaimed:
            logger.warning("worker %s took back %s of its own tasks", self.worker_id, reclaimed)

    def _maybe_sweep(self) -> None:
        if not self.sweep_interval or time.monotonic() < self.next_sweep:
            return
        self.next_sweep = time.monotonic() + self.sweep_interval
        result = services.sweep_if_due(
            worker_id=self.worker_id, interval_seconds=self.sweep_interval
        )
        if result and any(v for v in result.values()):
            logger.info("sweep: %s", result)

    def _maybe_schedule(self) -> None:
        if not self.schedule_interval or time.monotonic() < self.next_schedule:
            return
        self.next_schedule = time.monotonic() + self.schedule_interval
        scheduler.run_due(worker_id=self.worker_id)

    def _next_task(self):
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        with exclusive_transaction(tasks.db):
            try:
                task_result = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)
                return task_result, True
            except OperationalError as exc:
                if is_locked_database_exception(exc):  # SQLite busy: try again later
                    return None, False
                raise

    def run_task(self, db_task_result: DBTaskResult) -> None:
        """As django-tasks-db's, except that a task failing because the database went away
        is not recorded as failed (it could not be, anyway): the error goes up to the loop,
        which reconnects and puts the task back in the queue."""
        from django_tasks_db.compat import TaskContext, task_finished, task_started

        self.running_task = True
        try:
            task = db_task_result.task
            task_result = db_task_result.task_result
            backend_type = task.get_backend()
            task_started.send(sender=backend_type, task_result=task_result)
            try:
                if task.takes_context:
                    value = task.call(
                        TaskContext(task_result=task_result),
                        *task_result.args,
                        **task_result.kwargs,
                    )
                else:
                    value = task.call(*task_result.args, **task_result.kwargs)
            except DB_ERRORS as exc:
                raise DatabaseUnavailable(str(exc)) from exc
            except Exception as exc:  # noqa: BLE001 - the task's own failure: recorded
                db_task_result.set_failed(exc)
                task_finished.send(sender=type(backend_type), task_result=task_result)
                return
            db_task_result.set_successful(value)
            task_finished.send(sender=backend_type, task_result=db_task_result.task_result)
        finally:
            self.running_task = False
            self._run_tasks += 1

    def _loop_once(self) -> bool:
        """One iteration; False when the worker should stop (batch done, max tasks)."""
        close_old_connections()
        self._maybe_sweep()
        self._maybe_schedule()
        task_result, retrieved = self._next_task()
        if task_result is not None:
            self.run_task(task_result)
        if self.batch and retrieved and task_result is None:
            return False
        if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
            return False
        close_old_connections()
        if self.running and task_result is None:
            time.sleep(self.interval)
        return True

    def run(self) -> None:
        from django.utils import timezone

        self.started_at = timezone.now()
        logger.info("worker %s starting (queues %s)", self.worker_id, ",".join(self.queue_names))
        beat = threading.Thread(target=self._beat_forever, name="heartbeat", daemon=True)
        beat.start()
        if self.startup_delay and self.interval:
            time.sleep(random.random())  # noqa: S311 - no thundering herd
        backoff = 1.0
        recovered = False
        try:
            while self.running:
                try:
                    if not recovered:
                        self._recover_own_tasks()
                        recovered = True
                    if not self._loop_once():
                        return
                    backoff = 1.0
                except (*DB_ERRORS, DatabaseUnavailable) as exc:
                    # Retried forever: systemd would restart us anyway, and the queue is
                    # in the database we are waiting for.
                    self.reconnections += 1
                    recovered = False
                    _close_all_connections()
                    delay = backoff * (0.5 + random.random() / 2)  # noqa: S311
                    logger.warning(
                        "database unavailable (%s): reconnecting in %.1f s",
                        exc.__class__.__name__,
                        delay,
                    )
                    time.sleep(delay)
                    backoff = min(backoff * 2, self.max_backoff)
        finally:
            self._stop.set()
            with contextlib.suppress(DB_ERRORS):
                services.worker_stopped(worker_id=self.worker_id)
            beat.join(timeout=self.heartbeat_interval + 1)


class Command(DbWorkerCommand):
    help = (
        "Worker des tâches de fond (SMS, e-mails) qui survit à un redémarrage de la base, "
        "avec battement de cœur, reprise des tâches interrompues et balayage périodique."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--sweep", type=float, default=None, help="sweep interval (s)")
        parser.add_argument("--heartbeat", type=float, default=5.0, help="heartbeat (s)")
        parser.add_argument("--max-backoff", type=float, default=30.0, help="reconnect cap (s)")
        parser.add_argument(
            "--schedule",
            type=float,
            default=None,
            help="periodic jobs check interval (s), 0: off (RELAIS_SCHEDULER_SECONDS)",
        )

    def handle(self, *, sweep, heartbeat, max_backoff, schedule, **options) -> None:
        from django.conf import settings

        self.configure_logging(options["verbosity"])
        rl = logging.getLogger("relais.worker")
        if not rl.hasHandlers():
            rl.addHandler(logging.StreamHandler(self.stdout))
        queue_names = options["queue_name"].split(",")
        excluded = options["exclude_queues"].split(",") if options["exclude_queues"] else []
        worker = ResilientWorker(
            queue_names=queue_names,
            interval=options["interval"],
            batch=options["batch"],
            backend_name=options["backend_name"],
            startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"],
            excluded_queue_names=excluded,
            sweep_interval=sweep if sweep is not None else settings.RELAIS_SWEEP_SECONDS,
            heartbeat_interval=heartbeat,
            max_backoff=max_backoff,
            schedule_interval=(
                schedule
                if schedule is not None
                else float(getattr(settings, "RELAIS_SCHEDULER_SECONDS", 5))
            ),
        )
        worker.configure_signals()
        worker.run()
