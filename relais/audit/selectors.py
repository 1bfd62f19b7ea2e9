"""Reads of the audit trail (administrators only, checked by the views)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from relais.audit.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    username: str = ""
    action: str = ""
    object_type: str = ""
    start: date | None = None
    end: date | None = None

    def describe(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in (
                ("utilisateur", self.username),
                ("action", self.action),
                ("objet", self.object_type),
                ("du", self.start.isoformat() if self.start else ""),
                ("au", self.end.isoformat() if self.end else ""),
            )
            if value
        ]
        return ", ".join(parts) or "sans filtre"


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_events(*, filters: AuditFilter) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("user")
    if filters.username:
        qs = qs.filter(user__username=filters.username)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.start:
        qs = qs.filter(at__gte=_day_start(filters.start))
    if filters.end:
        qs = qs.filter(at__lt=_day_start(filters.end + timedelta(days=1)))
    return qs.order_by("-at", "-pk")


def audit_choices() -> tuple[list[str], list[str]]:
    """Actions and object types present in the trail (for the filter menus)."""
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    types = (
        AuditEvent.objects.order_by("object_type").values_list("object_type", flat=True).distinct()
    )
    return list(actions), list(types)
