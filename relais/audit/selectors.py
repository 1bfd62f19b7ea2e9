"""Reads of the audit trail (administrators only, checked by the views)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import CharField, Func, Q, QuerySet
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


class UuidText(Func):
    """A UUID column as the text audit rows store ("8-4-4-4-12", lower case)."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s)::text", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores a UUID on SQLite as 32 hex characters, without dashes.
        sql, params = compiler.compile(self.source_expressions[0])
        parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
        text = " || '-' || ".join(f"substr({sql}, {a}, {n})" for a, n in parts)
        return f"lower({text})", params * len(parts)


def _in_territory(sas_ids) -> Q:
    """Rows of a SAS: its members' (a role in the SAS or in one of its CPTS), its API
    clients' (limited to it), and any row about one of its requests, patients or bookings
    (whoever the actor: a task, a patient's link, a national client)."""
    from relais.accounts.models import ApiClient, Membership
    from relais.orientation.models import Booking
    from relais.regulation.models import Patient, Request

    ids = list(sas_ids)
    members = Membership.objects.filter(Q(sas_id__in=ids) | Q(cpts__sas_id__in=ids))
    clients = ApiClient.objects.filter(sas_scope__in=ids).values("name")

    def public_ids(qs):
        return qs.annotate(text_id=UuidText("public_id")).values("text_id")

    return (
        Q(user_id__in=members.values("user_id"))
        | Q(api_client__in=clients)
        | Q(
            object_type="regulation.request",
            object_id__in=public_ids(Request.objects.filter(sas_id__in=ids)),
        )
        | Q(
            object_type="regulation.patient",
            object_id__in=public_ids(Patient.objects.filter(sas_id__in=ids)),
        )
        | Q(
            object_type__in=["orientation.booking", "fhir.Appointment"],
            object_id__in=public_ids(Booking.objects.filter(request__sas_id__in=ids)),
        )
    )


def audit_events(*, filters: AuditFilter, sas_ids=None) -> QuerySet[AuditEvent]:
    """The trail, filtered; limited to the rows of these SAS (`_in_territory`) unless
    `sas_ids` is None (a Django superuser, who sees the whole trail)."""
    qs = AuditEvent.objects.select_related("user")
    if sas_ids is not None:
        qs = qs.filter(_in_territory(sas_ids))
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
