"""Prometheus metrics of the outbox and the task system, and the /metrics view.

Counters are incremented from the outside of the services (NotificationsConfig.ready):
- bookings created: a post_save receiver on "orientation.Booking" (a lazy model name: this
  app does not import orientation), counted when the transaction commits (a rolled-back
  booking counts nothing);
- task queue wait and run time: django-tasks' task_started / task_finished signals.
The outbox depth and age are read from the database at scrape time (a collector): they are
right whatever process wrote the rows.

/metrics answers only to a direct request (no X-Forwarded-For) from an address of
RELAIS_METRICS_ALLOWED_IPS (default 127.0.0.1), or to `Authorization: Bearer
<RELAIS_METRICS_TOKEN>`; anything else gets 403. Only counts and durations: no label
holds a URL, an id, a user or a patient.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from relais.core import observability

logger = logging.getLogger("relais.metrics")


# --- receivers ---------------------------------------------------------------------------


def on_booking_saved(sender, instance, created, **kwargs) -> None:
    if not created:
        return
    channel = str(getattr(instance, "channel", "") or "other")[:20]
    transaction.on_commit(lambda: observability.BOOKINGS_CREATED.labels(channel).inc())


def on_task_started(sender, task_result, **kwargs) -> None:
    started, enqueued = task_result.started_at, task_result.enqueued_at
    run_after = getattr(task_result.task, "run_after", None)
    base = max(enqueued, run_after) if (enqueued and run_after) else enqueued
    if started and base:
        label = observability.task_label(task_result.task.module_path)
        observability.TASK_WAIT_SECONDS.labels(label).observe(
            max(0.0, (started - base).total_seconds())
        )


def on_task_finished(sender, task_result, **kwargs) -> None:
    started = task_result.started_at
    finished = task_result.finished_at or timezone.now()
    if started:
        label = observability.task_label(task_result.task.module_path)
        status = str(getattr(task_result.status, "value", task_result.status)).lower()
        observability.TASK_RUN_SECONDS.labels(label, status).observe(
            max(0.0, (finished - started).total_seconds())
        )


def connect() -> None:
    from django.db.models.signals import post_save
    from django_tasks_db.compat import task_finished, task_started

    post_save.connect(
        on_booking_saved,
        sender="orientation.Booking",
        weak=False,
        dispatch_uid="relais_metrics_booking",
    )
    task_started.connect(on_task_started, weak=False, dispatch_uid="relais_metrics_started")
    task_finished.connect(on_task_finished, weak=False, dispatch_uid="relais_metrics_finished")


# --- the outbox, at scrape time -----------------------------------------------------------


class OutboxCollector:
    def collect(self):
        from relais.notifications.selectors import outbox_figures

        try:
            figures = outbox_figures()
        except Exception:  # noqa: BLE001 - a scrape during an outage: no outbox figures
            logger.warning("outbox figures unavailable")
            return
        depth = GaugeMetricFamily(
            "relais_outbox_depth", "Unsent outbox rows (pending or sending)", labels=["outbox"]
        )
        age = GaugeMetricFamily(
            "relais_outbox_oldest_age_seconds", "Age of the oldest unsent row", labels=["outbox"]
        )
        failed = GaugeMetricFamily(
            "relais_notifications_failed", "Messages failed for good (to be resent by hand)"
        )
        workers = GaugeMetricFamily("relais_workers_fresh", "Workers with a fresh heartbeat")
        for outbox in ("notifications", "sas_reports"):
            depth.add_metric([outbox], figures[outbox]["depth"])
            age.add_metric([outbox], figures[outbox]["oldest_age_seconds"] or 0.0)
        failed.add_metric([], figures["failed_for_good"])
        workers.add_metric([], figures["workers_fresh"])
        yield from (depth, age, failed, workers)


# --- the view ------------------------------------------------------------------------------


def _allowed_networks(raw) -> list:
    if isinstance(raw, str):
        raw = [x for x in raw.split(",") if x.strip()]
    networks = []
    for item in raw or ["127.0.0.1"]:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            logger.error("RELAIS_METRICS_ALLOWED_IPS: not an address: %r", item)
    return networks


def metrics_allowed(request) -> bool:
    from django.conf import settings

    token = getattr(settings, "RELAIS_METRICS_TOKEN", "") or ""
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:], token):
        return True
    if request.headers.get("X-Forwarded-For"):  # through a proxy: not a local scraper
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    networks = _allowed_networks(getattr(settings, "RELAIS_METRICS_ALLOWED_IPS", "127.0.0.1"))
    return any(address in net for net in networks)


def render_metrics() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    body = generate_latest(registry)
    outbox = CollectorRegistry()
    outbox.register(OutboxCollector())
    return body + generate_latest(outbox)


def metrics_view(request):
    if not metrics_allowed(request):
        return JsonResponse(
            {"error": {"code": "forbidden", "message": "Métriques réservées au superviseur."}},
            status=403,
        )
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
