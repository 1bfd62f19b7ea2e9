"""Reads for the FHIR interface: parameter parsing and the Slot search (INT_R01/R04)."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F as models_f
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from relais.accounts.permissions import Scope, cpts_limit_q
from relais.agenda.models import Slot, SlotStatus
from relais.core.errors import ApplicationError
from relais.directory.models import Practice, Professional
from relais.interop import resources as r
from relais.orientation.models import Booking
from relais.territory.models import Cpts

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


def fhir_slots(*, query: SlotQuery, scope: Scope, now: datetime | None = None) -> list[Slot]:
    """Free, unheld, future slots of the given professionals, in the client's territory,
    that their professional published on a channel the SAS shows (TRE_R314): PUBLIC, PRO,
    SNP (a SAS participant's), and in the CPTS variant CPTS (a member of a CPTS). Nothing
    the professional hid: no "niveau 2 uniquement" professional, no slot with an age or
    motif restriction (the platform cannot apply them), none on a day or week where the
    professional's SNP cap is reached (the booking search's own capacity reader), and one
    slot per plage (its first free place)."""
    from relais.orientation.selectors import _Capacity

    now = now or timezone.now()
    # The batch's professionals first (a few rows), so the slot query joins nothing.
    who = Q(rpps__in=query.rpps)
    if query.adeli:
        who |= Q(adeli__in=query.adeli)
    pros = Professional.objects.filter(who, active=True, level2_only=False).values_list(
        "pk", "sas_participant", "cpts_id"
    )
    ids, sas_ids, members = set(), set(), set()
    for pk, sas_participant, cpts_id in pros:
        ids.add(pk)
        if sas_participant:
            sas_ids.add(pk)
        if cpts_id:
            members.add(pk)
    if query.cpts_variant and ids - members:
        members |= set(
            Professional.other_cpts.through.objects.filter(
                professional_id__in=list(ids - members)
            ).values_list("professional_id", flat=True)
        )
    channel = (
        Q(for_sas=True, professional_id__in=list(sas_ids))
        | Q(for_public=True)
        | Q(for_partners=True)
    )
    if query.cpts_variant:
        channel |= Q(for_cpts=True, professional_id__in=list(members))
    rows = (
        Slot.objects.filter(
            channel,
            professional_id__in=list(ids),
            status=SlotStatus.FREE,
            start__gte=max(query.start_min, now),
            start__lte=query.start_max,
            age_min__isnull=True,
            age_max__isnull=True,
            practice__commune__departement__code__in=scope.departement_codes,
        )
        .filter(Q(held_until__isnull=True) | Q(held_until__lt=now))
        .exclude(rule__motifs__isnull=False)
        # partner_mirror: Slot.comment gives a mirrored slot's partner link.
        .select_related("professional__cpts", "practice__commune", "partner_mirror")
    )
    limit = cpts_limit_q(scope)  # a CPTS-limited client: its CPTS's members only
    if limit:
        rows = rows.filter(limit).distinct()
    rows = rows.order_by("start", "pk")
    capacity = _Capacity()
    kept: list[Slot] = []
    plages: set[tuple] = set()
    for slot in rows:
        pro = slot.professional
        if (pro.max_snp_per_day is not None or pro.max_snp_per_week is not None) and (
            capacity.full(
                pro.pk,
                slot.start,
                per_day=pro.max_snp_per_day,
                per_week=pro.max_snp_per_week,
            )
        ):
            continue
        if slot.is_plage:
            key = (pro.pk, slot.practice_id, slot.start, slot.end)
            if key in plages:
                continue
            plages.add(key)
        kept.append(slot)
    return kept


def _cpts_of(professionals) -> dict[int, list[Cpts]]:
    """Every CPTS of each professional (main first, as Professional.cpts_ids), in two
    queries whatever the number of professionals."""
    ids = {p.pk: [p.cpts_id] if p.cpts_id else [] for p in professionals}
    others = Professional.other_cpts.through.objects.filter(professional_id__in=list(ids))
    for pro_id, cpts_id in others.order_by("pk").values_list("professional_id", "cpts_id"):
        if cpts_id not in ids[pro_id]:
            ids[pro_id].append(cpts_id)
    by_pk = Cpts.objects.in_bulk({c for cs in ids.values() for c in cs})
    return {pk: [by_pk[c] for c in cs if c in by_pk] for pk, cs in ids.items()}


def _ranks_of(professional_ids) -> dict[tuple[int, int], int]:
    """(professional, practice) -> rank of the place among the professional's places (as
    resources.practice_rang), in one query."""
    ranks: dict[tuple[int, int], int] = {}
    count: dict[int, int] = {}
    rows = Practice.professionals.through.objects.filter(professional_id__in=list(professional_ids))
    for pro_id, practice_id in rows.order_by("practice_id").values_list(
        "professional_id", "practice_id"
    ):
        count[pro_id] = count.get(pro_id, 0) + 1
        ranks[(pro_id, practice_id)] = count[pro_id]
    return ranks


def slot_search_bundle(*, query: SlotQuery, slots, self_url: str) -> dict:
    """The searchset: Slot (match) then the included resources, each once, and an
    OperationOutcome entry (warnings) for what was ignored or is unknown."""
    entries: list[tuple[dict, str]] = []
    seen: set[tuple[str, str]] = set()
    included: list[tuple[dict, str]] = []

    def include(kind: str, resource_id, build, *args, **kwargs) -> None:
        """Build each included resource once (a professional has many slots)."""
        if (kind, resource_id) not in seen:
            seen.add((kind, resource_id))
            included.append((build(*args, **kwargs), "include"))

    with_schedule = "Slot:schedule" in query.includes
    actors = query.includes & {
        "Schedule:actor",
        "Schedule:actor:Practitioner",
        "Schedule:actor:PractitionerRole",
    }
    cpts_by_pro = _cpts_of({s.professional for s in slots}) if query.cpts_variant else {}
    ranks = _ranks_of({s.professional_id for s in slots}) if actors and slots else {}
    for slot in slots:
        cpts_list = cpts_by_pro.get(slot.professional_id, []) if slot.for_cpts else []
        types = r.slot_types(slot, cpts=bool(cpts_list))
        entries.append(
            (
                r.slot_resource(
                    slot, cpts_list=cpts_list, cpts_variant=query.cpts_variant, types=types
                ),
                "match",
            )
        )
        pro, practice = slot.professional, slot.practice
        if with_schedule:
            include("Schedule", r.schedule_id(slot), r.schedule_resource, slot)
            if actors and actors != {"Schedule:actor:PractitionerRole"}:
                include("Practitioner", pro.pk, r.practitioner_resource, pro)
            if actors and actors != {"Schedule:actor:Practitioner"}:
                include(
                    "PractitionerRole",
                    (pro.pk, practice.pk),
                    r.practitioner_role_resource,
                    pro,
                    practice,
                    rang=ranks.get((pro.pk, practice.pk), 1),
                )
        for cpts in cpts_list:
            include("HealthcareService", cpts.pk, r.healthcare_service_resource, cpts)
            if "HealthcareService:organization" in query.includes:
                include("Organization", cpts.pk, r.organization_resource, cpts)
    warnings = list(query.warnings)
    known = set(
        Professional.objects.filter(
            Q(rpps__in=query.rpps) | Q(adeli__in=query.adeli or ["-"])
        ).values_list("rpps", "adeli")
    )
    found = {x for pair in known for x in pair if x}
    for number, asked in query.asked.items():
        if number not in found:
            warnings.append(f"Aucun professionnel connu pour l'identifiant {asked}.")
    outcome = None
    if warnings:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "warning",
                    "code": "not-found" if "Aucun" in w else "invalid",
                    "diagnostics": w,
                }
                for w in warnings
            ],
        }
    bundle = r.bundle_searchset(
        entries + included, self_url=self_url, total=len(entries), outcome=outcome
    )
    # The IG's Bundle profile; the CPTS one requires at least a Slot, a Schedule, a
    # Practitioner and a PractitionerRole (claimed only when they are all there).
    kinds = {res["resourceType"] for res, _ in entries + included}
    if not query.cpts_variant:
        profile = r.PROFILE_BUNDLE
    elif {"Slot", "Schedule", "Practitioner", "PractitionerRole"} <= kinds:
        profile = r.PROFILE_BUNDLE_CPTS
    else:
        profile = None
    if profile:
        bundle = {"resourceType": "Bundle", "meta": {"profile": [profile]}, **bundle}
    return bundle


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
