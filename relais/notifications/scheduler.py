"""The periodic jobs, run once per period across every worker of every node.

Each job is a PeriodicJob row (its next due time). Every `relais run_worker` looks at the
due rows every few seconds and offers to start each one: a conditional UPDATE that moves
`next_run_at` forward (`services.periodic_job_claim`) elects one worker per period, and
in the same transaction that worker queues the job's task, which one worker of the pool
then runs (the queue claims rows with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL). A
crash between the claim and the queueing rolls both back: the period is not lost.

The systemd timers (deploy/systemd) are a fallback for a node without a worker: they
run `relais run_periodic <job> --if-due`, which goes through the same row, so a job the
workers already ran this period is not run again by the timer.

The jobs name their task by its path (relais.core.queue): this app does not import the
apps the tasks belong to. The sweep of the task system itself is not queued (it must work
when the queue is stuck): the worker runs it inline (services.sweep_if_due).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from relais.core.queue import enqueue
from relais.notifications import services
from relais.notifications.models import PeriodicJob

logger = logging.getLogger("relais.scheduler")


@dataclass(frozen=True)
class Job:
    name: str
    task_path: str
    every: timedelta | None = None  # every N seconds, or …
    at: dtime | None = None  # … once a day at this local time (settings.TIME_ZONE)
    kwargs: dict = field(default_factory=dict)
    doc: str = ""

    def next_after(self, now: datetime) -> datetime:
        """The due time following `now` (aware)."""
        if self.every is not None:
            return now + self.every
        tz = ZoneInfo(settings.TIME_ZONE)
        local = now.astimezone(tz)
        candidate = datetime.combine(local.date(), self.at, tzinfo=tz)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.at, tzinfo=tz)
        return candidate

    def first_due(self, now: datetime) -> datetime:
        """When a job seen for the first time is due: an interval job at once, a daily job
        at its next time of day (not at every fresh install's first start)."""
        return now if self.every is not None else self.next_after(now)

    @property
    def period(self) -> str:
        if self.every is not None:
            return f"every {int(self.every.total_seconds())} s"
        return f"daily at {self.at:%H:%M} {settings.TIME_ZONE}"


def _seconds(name: str, default: int) -> timedelta:
    return timedelta(seconds=int(getattr(settings, name, default)))


def jobs() -> list[Job]:
    """The periodic jobs, minus those named in RELAIS_PERIODIC_JOBS_OFF."""
    off = set(getattr(settings, "RELAIS_PERIODIC_JOBS_OFF", ()) or ())
    table = [
        Job(
            "holds_expire",
            "relais.orientation.tasks.expire_holds",
            every=_seconds("RELAIS_HOLDS_EXPIRE_SECONDS", 60),
            doc="lapsed slot holds back to free (housekeeping: takers ignore lapsed holds)",
        ),
        Job(
            "level2_checks",
            "relais.orientation.tasks.level2_checks_due",
            every=_seconds("RELAIS_LEVEL2_CHECK_SECONDS", 60),
            doc="niveau-2 calls past their widening time or deadline (safety net under the "
            "checks queued at launch)",
        ),
        Job(
            "partners_poll",
            "relais.interop.tasks.poll_partners",
            every=_seconds("RELAIS_PARTNERS_POLL_SECONDS", 60),
            doc="partner agenda software whose interval elapsed",
        ),
        Job(
            "bulk_publish",
            "relais.interop.tasks.publish_bulk",
            every=_seconds("RELAIS_BULK_PUBLISH_SECONDS", 300),
            doc="SMART $bulk-publish files (RELAIS_BULK_DIR must be shared by the nodes)",
        ),
        Job(
            "materialise_slots",
            "relais.agenda.tasks.materialise_slots",
            at=dtime(3, 15),
            doc="rolling agenda horizon",
        ),
        Job(
            "anonymise_patients",
            "relais.regulation.tasks.anonymise_patients",
            at=dtime(3, 45),
            doc="retention (RELAIS_RETENTION_MONTHS)",
        ),
    ]
    return [job for job in table if job.name not in off]


def job_named(name: str) -> Job:
    for job in jobs():
        if job.name == name:
            return job
    raise KeyError(name)


def claim(job: Job, *, worker_id: str = "", now: datetime | None = None) -> bool:
    """True for exactly one caller per period of `job`, across every process."""
    now = now or timezone.now()
    return services.periodic_job_claim(
        name=job.name,
        interval_seconds=None,
        worker_id=worker_id,
        now=now,
        next_run_at=job.next_after(now),
        first_run_at=job.first_due(now),
    )


def run_due(*, worker_id: str = "", now: datetime | None = None) -> list[str]:
    """Queue the task of every job due now whose period this caller won; returns their
    names. One SELECT when nothing is due; each due job: one claim UPDATE (+ INSERT)."""
    now = now or timezone.now()
    table = jobs()
    known = dict(
        PeriodicJob.objects.filter(name__in=[j.name for j in table]).values_list(
            "name", "next_run_at"
        )
    )
    started = []
    for job in table:
        due = known.get(job.name)
        if due is not None and due > now:
            continue
        with transaction.atomic():
            if not claim(job, worker_id=worker_id, now=now):
                continue
            result = enqueue(job.task_path, **job.kwargs)
            PeriodicJob.objects.filter(name=job.name).update(
                last_result={"queued": str(getattr(result, "id", ""))}
            )
        started.append(job.name)
    if started:
        logger.info("periodic jobs queued by %s: %s", worker_id or "?", ", ".join(started))
    return started


def run_now(job: Job, *, worker_id: str = "") -> object:
    """Run the job's task in this process (the timers' fallback, `run_periodic`)."""
    from django.utils.module_loading import import_string

    task = import_string(job.task_path)
    value = task.call(**job.kwargs)
    PeriodicJob.objects.filter(name=job.name).update(
        last_finished_at=timezone.now(),
        last_result=value if isinstance(value, dict) else {"result": str(value)},
    )
    return value
