"""Writes to the audit trail. The application never updates or deletes a row.

Every row names its actor, one of: a user, an API client, a patient through the signed
follow-up link (`patient_link`), a patient on the public CPTS web form (`public_form`), or
the system (a task or a command, `system="task:<name>"`). The caller passes it, or the door
made it known (`relais.audit.context`); a row without an actor is refused
(`AuditActorMissing`), so a door that forgets to say who acts fails its tests."""

from relais.audit import context
from relais.audit.models import ActorType, AuditEvent


class AuditActorMissing(Exception):
    """audit_record() was called with no actor, and none is known from the context."""


def _role_of(user) -> str:
    """The roles the user holds, as recorded on each row (comma-separated, sorted)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    from relais.accounts.permissions import scope_for

    return ",".join(sorted(scope_for(user).roles))[:100]


def _resolve_actor(*, user, api_client, system, patient_link, public_form) -> context.Actor:
    if user is not None and getattr(user, "is_authenticated", False):
        return context.Actor(ActorType.USER, user=user)
    if api_client:
        return context.Actor(ActorType.API_CLIENT, api_client=str(api_client)[:100])
    if system:
        return context.Actor(ActorType.SYSTEM, str(system)[:100])
    if patient_link:
        label = patient_link if isinstance(patient_link, str) else "lien de suivi"
        return context.Actor(ActorType.PATIENT_LINK, label[:100])
    if public_form:
        label = public_form if isinstance(public_form, str) else "formulaire web"
        return context.Actor(ActorType.PUBLIC_FORM, label[:100])
    actor = context.current_actor()
    if actor is None:
        raise AuditActorMissing(
            "audit_record() needs an actor: user=, api_client=, system='task:<name>' or "
            "patient_link=True (or a door that names it, see relais.audit.context)."
        )
    return actor


def _event(*, actor: context.Actor, role: str, **fields) -> AuditEvent:
    user = actor.user if actor.kind == ActorType.USER else None
    return AuditEvent(
        user=user,
        api_client=actor.api_client,
        actor_type=actor.kind,
        actor_label=actor.label,
        role=(role or _role_of(user) or ("api" if actor.api_client else ""))[:100],
        **fields,
    )


def audit_record(
    *,
    user=None,
    api_client: str = "",
    system: str = "",
    patient_link: bool | str = False,
    public_form: bool | str = False,
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
    actor = _resolve_actor(
        user=user,
        api_client=api_client,
        system=system,
        patient_link=patient_link,
        public_form=public_form,
    )
    event = _event(
        actor=actor,
        role=role,
        action=action,
        object_type=object_type[:50],
        object_id=str(object_id)[:64],
        reason=reason[:200],
    )
    event.save()
    return event


def audit_record_reads(
    *, user=None, objects, reason: str = "", api_client: str = "", system: str = ""
) -> None:
    """One audit row per object read, written in a single query (list pages)."""
    objects = list(objects)
    if not objects:
        return
    actor = _resolve_actor(
        user=user, api_client=api_client, system=system, patient_link=False, public_form=False
    )
    role = _role_of(actor.user)
    AuditEvent.objects.bulk_create(
        [
            _event(
                actor=actor,
                role=role,
                action="read",
                object_type=obj._meta.label_lower,
                object_id=str(getattr(obj, "public_id", obj.pk)),
                reason=reason[:200],
            )
            for obj in objects
        ]
    )
