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


def health_status() -> tuple[bool, dict]:
    """(healthy, body) for /healthz: counts only, nothing personal."""
    from django.conf import settings

    body: dict = {"database": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        last = (
            WorkerHeartbeat.objects.order_by("-last_seen")
            .values_list("last_seen", flat=True)
            .first()
        )
        age = None if last is None else round((timezone.now() - last).total_seconds(), 1)
        body["worker_heartbeat_age_seconds"] = age
        body["workers"] = WorkerHeartbeat.objects.filter(
            last_seen__gte=timezone.now() - timedelta(seconds=settings.RELAIS_WORKER_STALE_SECONDS)
        ).count()
        body["pending_backlog"] = Notification.objects.filter(
            status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING]
        ).count()
        body["failed_for_good"] = Notification.objects.filter(
            status=NotificationStatus.FAILED
        ).count()
    except Exception:  # noqa: BLE001 - any database failure is "unavailable"
        body = {"database": "unavailable"}
        return False, body
    healthy = age is not None and age <= settings.RELAIS_WORKER_STALE_SECONDS
    body["worker"] = "ok" if healthy else "stale" if age is not None else "absent"
    return healthy, body
