"""Writes to the audit trail. The application never updates or deletes a row."""

from relais.audit.models import AuditEvent


def audit_record(
    *,
    user=None,
    api_client: str = "",
    role: str = "",
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    reason: str = "",
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(getattr(obj, "public_id", obj.pk))
    return AuditEvent.objects.create(
        user=user if (user is not None and user.is_authenticated) else None,
        api_client=api_client,
        role=role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        reason=reason[:200],
    )


def audit_record_reads(*, user, objects, reason: str = "") -> None:
    """One audit row per object read, written in a single query (list pages)."""
    user = user if (user is not None and user.is_authenticated) else None
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                user=user,
                action="read",
                object_type=obj._meta.label_lower,
                object_id=str(getattr(obj, "public_id", obj.pk)),
                reason=reason[:200],
            )
            for obj in objects
        ]
    )
