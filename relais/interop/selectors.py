"""Reads for the FHIR interface: parameter parsing and the Slot search (INT_R01/R04)."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from relais.accounts.permissions import Scope, cpts_limit_q
from relais.agenda.models import Slot, SlotStatus
from relais.core.errors import ApplicationError
from relais.interop import resources as r
from relais.orientation.models import Booking

MAX_RPPS = 25
MAX_WINDOW = timedelta(days=31)
RPPS_PARAM = "schedule.actor:Practitioner.identifier"
KNOWN_INCLUDES = {
    "Slot:schedule",
    "Schedule:actor",
    "Schedule:actor:Practitioner",
    "Schedule:actor:PractitionerRole",
    "Slot:service-type-reference",
    "HealthcareService:organization",
}
IGNORED_PARAMS = {"_count", "_format", "_pretty", "_summary", "origin"}
DATE_PREFIX = re.compile(r"^(ge|gt|le|lt|eq)?(.+)$")


class BadParameter(ApplicationError):
    code = "bad_parameter"
    http_status = 400


@dataclass
class SlotQuery:
    start_min: datetime
    start_max: datetime
    rpps: list[str]
    includes: set[str] = field(default_factory=set)

    @property
    def cpts_variant(self) -> bool:
        return "Slot:service-type-reference" in self.includes


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _parse_instant(raw: str, *, upper: bool) -> datetime:
    try:
        return _parse_instant_or_fail(raw, upper=upper)
    except ValueError:  # well formed but impossible (month 13…)
        raise BadParameter(f"Date invalide dans « start » : {raw}.") from None


def _parse_instant_or_fail(raw: str, *, upper: bool) -> datetime:
    dt = parse_datetime(raw.replace(" ", "+"))  # '+' arrives as a space when not encoded
    if dt is None:
        day = parse_date(raw)
        if day is None:
            raise BadParameter(f"Date invalide dans « start » : {raw}.")
        dt = datetime.combine(day, datetime.max.time() if upper else datetime.min.time())
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt)
    return dt


def parse_slot_query(params) -> SlotQuery:
    """`params` is a QueryDict. Every refusal is a BadParameter (400, OperationOutcome)."""
    unknown = set(params) - {"start", "status", RPPS_PARAM, "_include", "_include:iterate"}
    unknown -= IGNORED_PARAMS
    if unknown:
        raise BadParameter(f"Paramètre(s) non pris en charge : {', '.join(sorted(unknown))}.")
    start_min = start_max = None
    for raw in params.getlist("start"):
        try:
            prefix, value = DATE_PREFIX.match(raw).groups()
        except AttributeError:
            raise BadParameter("Paramètre « start » vide.") from None
        if prefix in ("ge", "gt"):
            start_min = _parse_instant(value, upper=False)
        elif prefix in ("le", "lt"):
            start_max = _parse_instant(value, upper=True)
        else:
            raise BadParameter("« start » attend les préfixes ge et le (start=ge…&start=le…).")
    if start_min is None or start_max is None:
        raise BadParameter("Indiquez la fenêtre de recherche : start=ge…&start=le….")
    if start_max < start_min:
        raise BadParameter("La fin de la fenêtre précède son début.")
    if start_max - start_min > MAX_WINDOW:
        raise BadParameter("Fenêtre de recherche trop longue (31 jours au plus).")
    statuses = _split(params.getlist("status"))
    if any(s != "free" for s in statuses):
        raise BadParameter("Seul status=free est pris en charge.")
    rpps: list[str] = []
    for token in _split(params.getlist(RPPS_PARAM)):
        system, sep, value = token.rpartition("|")
        if (sep and system not in ("", r.SYSTEM_RPPS)) or not re.fullmatch(r"8\d{11}", value):
            raise BadParameter(
                f"Identifiant invalide : {token} (attendu {r.SYSTEM_RPPS}|8 suivi du RPPS)."
            )
        if value[1:] not in rpps:
            rpps.append(value[1:])
    if not rpps:
        raise BadParameter(f"Indiquez de 1 à {MAX_RPPS} RPPS dans « {RPPS_PARAM} ».")
    if len(rpps) > MAX_RPPS:
        raise BadParameter(f"Au plus {MAX_RPPS} RPPS par requête ({len(rpps)} reçus).")
    includes = set(params.getlist("_include")) | set(params.getlist("_include:iterate"))
    bad = includes - KNOWN_INCLUDES
    if bad:
        raise BadParameter(f"_include non pris en charge : {', '.join(sorted(bad))}.")
    return SlotQuery(start_min=start_min, start_max=start_max, rpps=rpps, includes=includes)


def fhir_slots(*, query: SlotQuery, scope: Scope, now: datetime | None = None) -> QuerySet[Slot]:
    """Free, unheld, future slots of the given professionals that their professional
    opened to the SAS (or, in the CPTS variant, to their CPTS), in the client's territory."""
    now = now or timezone.now()
    channel = Q(for_sas=True)
    if query.cpts_variant:
        channel |= Q(for_cpts=True, professional__cpts__isnull=False)
    return (
        Slot.objects.filter(
            channel,
            status=SlotStatus.FREE,
            start__gte=max(query.start_min, now),
            start__lte=query.start_max,
            professional__rpps__in=query.rpps,
            professional__active=True,
            practice__commune__departement__code__in=scope.departement_codes,
        )
        .filter(cpts_limit_q(scope))  # a CPTS-limited client: its CPTS's professionals
        .filter(Q(held_until__isnull=True) | Q(held_until__lt=now))
        .select_related("professional__cpts", "practice__commune")
        .order_by("start", "pk")
    )


def slot_search_bundle(*, query: SlotQuery, slots, self_url: str) -> dict:
    """The searchset: Slot (match) then the included resources, each once."""
    entries: list[tuple[dict, str]] = []
    seen: set[tuple[str, str]] = set()
    included: list[tuple[dict, str]] = []

    def include(resource: dict) -> None:
        key = (resource["resourceType"], resource["id"])
        if key not in seen:
            seen.add(key)
            included.append((resource, "include"))

    with_schedule = "Slot:schedule" in query.includes
    actors = query.includes & {
        "Schedule:actor",
        "Schedule:actor:Practitioner",
        "Schedule:actor:PractitionerRole",
    }
    for slot in slots:
        cpts = slot.professional.cpts if (query.cpts_variant and not slot.for_sas) else None
        entries.append((r.slot_resource(slot, cpts=cpts), "match"))
        if with_schedule:
            include(r.schedule_resource(slot))
            if actors and actors != {"Schedule:actor:PractitionerRole"}:
                include(r.practitioner_resource(slot.professional))
            if actors and actors != {"Schedule:actor:Practitioner"}:
                include(r.practitioner_role_resource(slot.professional, slot.practice))
        if cpts is not None:
            include(r.healthcare_service_resource(cpts))
            if "HealthcareService:organization" in query.includes:
                include(r.organization_resource(cpts))
    return r.bundle_searchset(entries + included, self_url=self_url, total=len(entries))


def fhir_bookings_of_client(*, owner: str, key: str | None = None) -> QuerySet[Booking]:
    qs = Booking.objects.filter(idempotency_owner=owner).select_related(
        "slot__professional", "request__patient"
    )
    if key is not None:
        qs = qs.filter(idempotency_key=key)
    return qs.order_by("-created_at")
