"""The INT_R01 Slot search as it was before the lean one (relais.interop.slot_bundle),
kept verbatim as the oracle of tests/interop/test_fhir_lean_equivalence.py: model
objects and the per-resource builders of relais.interop.resources. Not used by Relais."""

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from relais.accounts.permissions import Scope, cpts_limit_q
from relais.agenda.models import Slot, SlotStatus
from relais.directory.models import Practice, Professional
from relais.interop import resources as r
from relais.interop.selectors import SlotQuery
from relais.territory.models import Cpts


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
