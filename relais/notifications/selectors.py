"""Reads of the outbox: the failed-messages page (scoped) and the health figures."""

from datetime import timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from relais.accounts.permissions import Scope
from relais.notifications.models import Notification, NotificationStatus, WorkerHeartbeat


def _scoped(qs: QuerySet[Notification], scope: Scope) -> QuerySet[Notification]:
    if not scope.sas_ids and not scope.cpts_ids:
        return qs.none()
    return qs.filter(Q(sas_id__in=scope.sas_ids) | Q(cpts_id__in=scope.cpts_ids))


def notifications_failed_for(*, scope: Scope, limit: int = 200) -> list[Notification]:
    qs = Notification.objects.filter(status=NotificationStatus.FAILED).select_related("cpts", "sas")
    return list(_scoped(qs, scope).order_by("-failed_at", "-created_at")[:limit])


def notification_failed_get(*, scope: Scope, public_id) -> Notification:
    """404 outside the caller's territory (and for a message that never failed)."""
    qs = Notification.objects.filter(public_id=public_id, status=NotificationStatus.FAILED)
    notification = _scoped(qs, scope).first()
    if notification is None:
        raise Http404("Message introuvable.")
    return notification


def _age_seconds(when, now) -> float | None:
    return None if when is None else round(max(0.0, (now - when).total_seconds()), 1)


def _sas_reports_pending(now) -> tuple[int, float | None]:
    """The INT_R03 outbox (interop's SasReport), read through the app registry: this app
    sits below interop and does not import it. (0, None) without the interop app."""
    from django.apps import apps

    try:
        model = apps.get_model("interop", "SasReport")
    except LookupError:
        return 0, None
    pending = model.objects.filter(status="pending")
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    return pending.count(), _age_seconds(oldest, now)


def _replica_figures() -> dict | None:
    """The read replica's verdict (relais.core.db_routing) when REPLICA_DATABASE_URL is set;
    None otherwise. Read defensively: the router may be absent from an older install."""
    from django.conf import settings

    if "replica" not in getattr(settings, "DATABASES", {}):
        return None
    try:
        from relais.core import db_routing

        verdict = db_routing.health.verdict()
    except Exception:  # noqa: BLE001 - a broken replica is a figure, not a 500
        return {"usable": False, "reason": "probe failed", "lag_seconds": None}
    lag = verdict.lag_seconds
    return {
        "usable": bool(verdict.healthy),
        "reason": verdict.reason,
        "lag_seconds": None if lag is None else round(float(lag), 1),
        "lag_bytes": verdict.lag_bytes,
    }


def health_status() -> tuple[bool, dict]:
    """(healthy, body) for /healthz: counts and ages only, nothing personal.

    healthy = the primary answers and one worker heartbeat is fresh. The replica's lag is
    reported but does not make the node unhealthy (reads fall back to the primary)."""
    from django.conf import settings

    stale_after = settings.RELAIS_WORKER_STALE_SECONDS
    body: dict = {"database": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        now = timezone.now()
        beats = list(
            WorkerHeartbeat.objects.order_by("worker_id").values_list("worker_id", "last_seen")
        )
        ages = [_age_seconds(seen, now) for _, seen in beats]
        age = min(ages) if ages else None
        body["worker_heartbeat_age_seconds"] = age
        body["workers"] = sum(1 for a in ages if a <= stale_after)
        # One entry per `run_worker` id (host-instance): its heartbeat age and verdict.
        body["worker_heartbeats"] = [
            {"worker_id": wid, "age_seconds": a, "fresh": a <= stale_after}
            for (wid, _), a in zip(beats, ages, strict=True)
        ]
        unsent = Notification.objects.filter(
            status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING]
        )
        body["pending_backlog"] = unsent.count()
        oldest = unsent.order_by("created_at").values_list("created_at", flat=True).first()
        body["oldest_unsent_notification_age_seconds"] = _age_seconds(oldest, now)
        reports, report_age = _sas_reports_pending(now)
        body["sas_reports_pending"] = reports
        body["oldest_pending_sas_report_age_seconds"] = report_age
        body["failed_for_good"] = Notification.objects.filter(
            status=NotificationStatus.FAILED
        ).count()
    except Exception:  # noqa: BLE001 - any database failure is "unavailable"
        body = {"database": "unavailable"}
        return False, body
    replica = _replica_figures()
    if replica is not None:
        body["replica"] = replica
    healthy = age is not None and age <= stale_after
    body["worker"] = "ok" if healthy else "stale" if age is not None else "absent"
    return healthy, body


def outbox_figures() -> dict:
    """Depth and oldest age of the two outboxes, failed messages, fresh workers (/metrics)."""
    from django.conf import settings

    now = timezone.now()
    unsent = Notification.objects.filter(
        status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING]
    )
    oldest = unsent.order_by("created_at").values_list("created_at", flat=True).first()
    reports, report_age = _sas_reports_pending(now)
    fresh_after = now - timedelta(seconds=settings.RELAIS_WORKER_STALE_SECONDS)
    return {
        "notifications": {"depth": unsent.count(), "oldest_age_seconds": _age_seconds(oldest, now)},
        "sas_reports": {"depth": reports, "oldest_age_seconds": report_age},
        "failed_for_good": Notification.objects.filter(status=NotificationStatus.FAILED).count(),
        "workers_fresh": WorkerHeartbeat.objects.filter(last_seen__gte=fresh_after).count(),
    }
