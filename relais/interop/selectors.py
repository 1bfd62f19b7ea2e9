"""Reads for the FHIR interface: the Slot search's parameters (INT_R01/R04; the search
itself is relais.interop.slot_bundle) and the reads by id."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F as models_f
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from relais.accounts.permissions import Scope
from relais.agenda.models import Slot
from relais.core.errors import ApplicationError
from relais.directory.models import Professional
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
    adeli: list[str] = field(default_factory=list)
    # What was ignored in the request (unknown parameter, malformed identifier…): each
    # one becomes a warning issue of the searchset's OperationOutcome entry.
    warnings: list[str] = field(default_factory=list)
    # Identifier as asked ("8…" / "0…") for each RPPS / ADELI, to name the unknown ones.
    asked: dict[str, str] = field(default_factory=dict)

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


def parse_slot_query(params, *, strict: bool = False) -> SlotQuery:
    """`params` is a QueryDict. A refusal is a BadParameter (400, OperationOutcome): no
    window, a malformed date, more than 25 identifiers. An unknown parameter or
    _include, or a malformed identifier, is ignored with a warning, so that one bad item
    never fails a whole batch; `strict` (Prefer: handling=strict) refuses them instead."""
    warnings: list[str] = []

    def ignore(message: str) -> None:
        if strict:
            raise BadParameter(message)
        warnings.append(message)

    unknown = set(params) - {"start", "status", RPPS_PARAM, "_include", "_include:iterate"}
    unknown -= IGNORED_PARAMS
    if unknown:
        ignore(f"Paramètre(s) non pris en charge, ignoré(s) : {', '.join(sorted(unknown))}.")
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
    tokens = _split(params.getlist(RPPS_PARAM))
    if not tokens:
        raise BadParameter(f"Indiquez de 1 à {MAX_RPPS} RPPS dans « {RPPS_PARAM} ».")
    if len(tokens) > MAX_RPPS:
        raise BadParameter(f"Au plus {MAX_RPPS} RPPS par requête ({len(tokens)} reçus).")
    rpps: list[str] = []
    adeli: list[str] = []
    asked: dict[str, str] = {}
    for token in tokens:
        system, sep, value = token.rpartition("|")
        kind = None
        if not sep or system in ("", r.SYSTEM_RPPS):
            if re.fullmatch(r"8\d{11}", value):
                kind = rpps
            elif re.fullmatch(r"0[0-9AB]\d{8}", value):
                kind = adeli
        if kind is None:
            ignore(
                f"Identifiant ignoré : {token[:40]} (attendu {r.SYSTEM_RPPS}|8 suivi du RPPS, "
                "ou 0 suivi du numéro ADELI)."
            )
        elif value[1:] not in kind:
            kind.append(value[1:])
            asked[value[1:]] = value
    includes = set(params.getlist("_include")) | set(params.getlist("_include:iterate"))
    bad = includes - KNOWN_INCLUDES
    if bad:
        ignore(f"_include non pris en charge, ignoré : {', '.join(sorted(bad))}.")
        includes -= bad
    return SlotQuery(
        start_min=start_min,
        start_max=start_max,
        rpps=rpps,
        includes=includes,
        adeli=adeli,
        warnings=warnings,
        asked=asked,
    )


def _published_q(scope: Scope) -> Q:
    """A slot the Slot search could publish to this client (any status): in its
    territory, of an active professional not "niveau 2 uniquement", open on a channel."""
    return Q(
        practice__commune__departement__code__in=scope.departement_codes,
        professional__active=True,
        professional__level2_only=False,
    ) & (
        Q(for_sas=True, professional__sas_participant=True)
        | Q(for_public=True)
        | Q(for_partners=True)
        | Q(for_cpts=True, professional__cpts__isnull=False)
        | Q(for_cpts=True, professional__other_cpts__isnull=False)
    )


def _uuid(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def fhir_slot_get(*, resource_id: str, scope: Scope) -> Slot | None:
    """GET Slot/<id>: a slot the search publishes to this client, else None (404)."""
    public_id = _uuid(resource_id)
    if public_id is None:
        return None
    return (
        Slot.objects.filter(_published_q(scope), public_id=public_id)
        .select_related("professional__cpts", "practice__commune", "partner_mirror")
        .distinct()
        .first()
    )


def fhir_schedule_get(*, resource_id: str, scope: Scope) -> Slot | None:
    """GET Schedule/sch-<professional>-<practice>: one of its published slots (the
    Schedule is built from it), else None."""
    match = re.fullmatch(r"sch-(\d{1,12})-(\d{1,12})", resource_id)
    if match is None:
        return None
    return (
        Slot.objects.filter(
            _published_q(scope),
            professional_id=int(match[1]),
            practice_id=int(match[2]),
            practice__professionals=models_f("professional_id"),
        )
        .select_related("professional", "practice__commune")
        .order_by("start")
        .first()
    )


def fhir_practitioner_get(*, resource_id: str, scope: Scope) -> Professional | None:
    """GET Practitioner/<id>: an active professional with a place in the client's
    territory, else None."""
    public_id = _uuid(resource_id)
    if public_id is None:
        return None
    return (
        Professional.objects.filter(
            public_id=public_id,
            active=True,
            practices__commune__departement__code__in=scope.departement_codes,
        )
        .distinct()
        .first()
    )


def fhir_bookings_of_client(*, owner: str, key: str | None = None) -> QuerySet[Booking]:
    qs = Booking.objects.filter(idempotency_owner=owner).select_related(
        "slot__professional", "request__patient"
    )
    if key is not None:
        qs = qs.filter(idempotency_key=key)
    return qs.order_by("-created_at")
