"""Writes to the audit trail. The application never updates or deletes a row."""

from relais.audit.models import AuditEvent


def _role_of(user) -> str:
    """The roles the user holds, as recorded on each row (comma-separated, sorted)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    from relais.accounts.permissions import scope_for

    return ",".join(sorted(scope_for(user).roles))[:100]


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
    user = user if (user is not None and user.is_authenticated) else None
    return AuditEvent.objects.create(
        user=user,
        api_client=api_client,
        role=role or _role_of(user) or ("api" if api_client else ""),
        action=action,
        object_type=object_type[:50],
        object_id=str(object_id)[:64],
        reason=reason[:200],
    )


def audit_record_reads(*, user, objects, reason: str = "") -> None:
    """One audit row per object read, written in a single query (list pages)."""
    user = user if (user is not None and user.is_authenticated) else None
    role = _role_of(user)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                user=user,
                role=role,
                action="read",
                object_type=obj._meta.label_lower,
                object_id=str(getattr(obj, "public_id", obj.pk)),
                reason=reason[:200],
            )
            for obj in objects
        ]
    )
