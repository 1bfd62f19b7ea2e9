"""Writes to the audit trail. The application never updates or deletes a row.

Every row names its actor, one of: a user, an API client, a patient through the signed
follow-up link (`patient_link`), a patient on the public CPTS web form (`public_form`), or
the system (a task or a command, `system="task:<name>"`). The caller passes it, or the door
made it known (`relais.audit.context`); a row without an actor is refused
(`AuditActorMissing`), so a door that forgets to say who acts fails its tests."""

from django.db import connection, transaction

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
    deferred = context.deferred_audit()
    if deferred is not None and deferred.pending:
        _write_with_deferred(deferred, [event])
    else:
        event.save()
    return event


# -- The API call's trace, written with the call's own rows ------------------------------
#
# Every JSON API call by a client leaves a row (`api.call`, relais.accounts.api_auth). It
# is not written when the client authenticates: it waits on the request
# (context.deferred_audit) for the call's next audit row, and both go in one INSERT —
# a booking's trace and its call's trace in the booking transaction, instead of a
# separate INSERT and commit before it. A call that writes no other row, or whose
# transaction rolled back (a refused booking), has its trace written when the request
# ends (AuditRequestMiddleware -> audit_flush_deferred), so no call goes untraced.


def audit_record_deferred(
    *, api_client: str, role: str, action: str, object_type: str, object_id: str
) -> AuditEvent:
    """The trace of an API call (see above); written at once outside a request."""
    actor = _resolve_actor(
        user=None, api_client=api_client, system="", patient_link=False, public_form=False
    )
    event = _event(
        actor=actor,
        role=role,
        action=action,
        object_type=object_type[:50],
        object_id=str(object_id)[:64],
        reason="",
    )
    deferred = context.deferred_audit(create=audit_flush_deferred)
    if deferred is None:
        event.save()
    else:
        deferred.pending.append(event)
    return event


def _write_with_deferred(deferred, events: list) -> None:
    rows = [*deferred.pending, *events]
    waiting, deferred.pending = deferred.pending, []
    AuditEvent.objects.bulk_create(rows)
    if connection.in_atomic_block:
        # Written in a transaction that may still roll back: forgotten only once it
        # commits; a rollback leaves them for audit_flush_deferred.
        group = context.InFlight(waiting)
        group.callback = lambda: group.rows.clear()
        deferred.in_flight.append(group)
        transaction.on_commit(group.callback)


def audit_flush_deferred(deferred) -> None:
    """End of a request: write the call traces not yet written, or written in a
    transaction that rolled back (its on-commit callback is neither run nor queued)."""
    queued = {id(entry[1]) for entry in connection.run_on_commit}
    rows = list(deferred.pending)
    for group in deferred.in_flight:
        if group.rows and id(group.callback) not in queued:
            rows += group.rows
    deferred.pending, deferred.in_flight = [], []
    for row in rows:
        row.pk = None
    if len(rows) == 1:
        rows[0].save()  # one autocommitted INSERT (bulk_create adds BEGIN and COMMIT)
    elif rows:
        AuditEvent.objects.bulk_create(rows)


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
    events = [
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
    deferred = context.deferred_audit()
    if deferred is not None and deferred.pending:
        _write_with_deferred(deferred, events)
    else:
        AuditEvent.objects.bulk_create(events)
