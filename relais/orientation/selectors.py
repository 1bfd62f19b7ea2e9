"""Reads for orientation: the ranked slot search and bookings."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from relais.accounts.permissions import Scope
from relais.agenda.models import Channel, Slot, SlotStatus
from relais.directory.models import Profession, Professional
from relais.orientation.models import ACTIVE_BOOKING_STATUSES, Booking
from relais.regulation.models import Request, UrgencyBand
from relais.territory.geo import bounding_box, distance_km

# Levels of the ranking, as the national SAS platform orders them.
LEVEL_TRAITANT = 0
LEVEL_PARTICIPANT = 1
LEVEL_OTHER = 2
LEVEL_LABELS = {
    LEVEL_TRAITANT: "Médecin traitant",
    LEVEL_PARTICIPANT: "Participant SAS / CPTS",
    LEVEL_OTHER: "Autre professionnel",
}
MAX_SLOTS_PER_PROFESSIONAL = 3
CANDIDATES_PER_RESULT = 8
# Only what the result shows: building full model instances dominated the search time.
RANKED_FIELDS = (
    "public_id",
    "start",
    "end",
    "modality",
    "status",
    "held_by",
    "held_until",
    "is_plage",
    "place",
    "source",
    "professional__public_id",
    "professional__first_name",
    "professional__last_name",
    "professional__profession",
    "professional__sas_participant",
    "professional__cpts_level2",
    "practice__name",
    "practice__address",
    "practice__latitude",
    "practice__longitude",
    "practice__phone",
    "practice__commune__name",
)
CHANNEL_FIELDS = {
    Channel.SAS: "for_sas",
    Channel.CPTS: "for_cpts",
    Channel.PUBLIC: "for_public",
    Channel.PARTNER: "for_partners",
}
# Slots starting within this margin are no longer offered: the patient could not get there.
MIN_LEAD = timedelta(minutes=10)


@dataclass(frozen=True)
class RankedSlot:
    slot: Slot
    level: int
    distance_km: float | None
    tie_break: str
    places_left: int = 1  # for a plage: free places in the range
    held_by_me: bool = False

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.level]


def _tie_break(request: Request, professional_public_id) -> str:
    """Neutral, deterministic per request: the same doctors are not always on top,
    yet one request always shows the same order (see docs/architecture.md)."""
    return hashlib.sha256(f"{request.public_id}:{professional_public_id}".encode()).hexdigest()[:12]


def search_window(*, request: Request, now: datetime, widen: bool = False):
    hours = UrgencyBand(request.urgency).max_hours
    if widen:
        hours = max(hours * 2, settings.RELAIS_SEARCH_HORIZON_HOURS)
    return now + MIN_LEAD, now + timedelta(hours=hours)


def available_q(*, now: datetime, user=None) -> Q:
    """Slots that can be taken now: free, or held but the hold has lapsed, or held by
    `user` (the operator who holds it may book it)."""
    q = Q(status=SlotStatus.FREE) | Q(status=SlotStatus.HELD, held_until__lt=now)
    if user is not None and getattr(user, "pk", None):
        q |= Q(status=SlotStatus.HELD, held_by_id=user.pk)
    return q


def _fits_patient_q(request: Request) -> Q:
    """Slots whose rule accepts the request's motif (no motif list = all) and whose age
    range includes the patient (no bound = any age)."""
    from relais.agenda.models import AvailabilityRule

    q = Q()
    age = request.patient.age
    if age is not None:
        q &= Q(age_min__isnull=True) | Q(age_min__lte=age)
        q &= Q(age_max__isnull=True) | Q(age_max__gte=age)
    if request.motif_id is not None:
        restricted = AvailabilityRule.motifs.through.objects.filter(
            availabilityrule_id=OuterRef("rule_id")
        )
        accepts = restricted.filter(motif_id=request.motif_id)
        q &= Q(rule__isnull=True) | ~Exists(restricted) | Exists(accepts)
    return q


def slots_ranked_for(
    *,
    request: Request,
    now: datetime | None = None,
    radius_km: float | None = None,
    widen: bool = False,
    modality: str | None = None,
    limit: int | None = None,
    channel: str = Channel.SAS,
    user=None,
) -> list[RankedSlot]:
    """Available slots for a request, best first.

    Order: the patient's médecin traitant first, then professionals participating in
    the SAS or the CPTS, then the others; within a level the earliest slot, then the
    nearest, then a neutral tie-break. `widen` doubles the radius and the horizon.
    Only slots the professional opened to `channel` are offered; slots held by another
    operator are hidden until their hold lapses. A plage shows once, with its places left.
    """
    now = now or timezone.now()
    limit = limit or settings.RELAIS_SEARCH_RESULTS
    patient = request.patient
    commune = patient.commune
    radius = radius_km or commune.departement.default_radius_km
    if widen:
        radius *= 2
    start_min, start_max = search_window(request=request, now=now, widen=widen)
    traitant_id = patient.medecin_traitant_id

    base = (
        Slot.objects.filter(available_q(now=now, user=user))
        .filter(start__gte=start_min, start__lte=start_max)
        .filter(professional__active=True, **{CHANNEL_FIELDS[channel]: True})
        .select_related("professional", "practice__commune")
        .only(*RANKED_FIELDS)
        .order_by("start", "place")
    )
    if modality:
        base = base.filter(modality=modality)
    base = base.filter(_fits_patient_q(request))
    if commune.has_point:
        min_lat, max_lat, min_lon, max_lon = bounding_box(
            commune.latitude, commune.longitude, radius
        )
        near = base.filter(
            practice__latitude__range=(min_lat, max_lat),
            practice__longitude__range=(min_lon, max_lon),
        )
    else:  # no coordinates (some overseas collectivities): same commune only
        near = base.filter(practice__commune=commune)
    near = near.exclude(professional__level2_only=True)
    if traitant_id:
        near = near.exclude(professional_id=traitant_id)
    # The médecin traitant's slots are fetched apart: they come first whatever the
    # distance, and must not be crowded out of the nearby candidates. Then each level
    # is fetched earliest first, a few times the wanted count (the box's corners and
    # the per-professional cap drop some): the order is level, then time, so no later
    # row of a level can beat these.
    participant = Q(professional__sas_participant=True) | Q(professional__cpts_level2=True)
    per_level = limit * CANDIDATES_PER_RESULT
    candidates = list(base.filter(professional_id=traitant_id)[:20]) if traitant_id else []
    candidates += list(near.filter(participant)[:per_level])
    candidates += list(near.exclude(participant)[:per_level])

    kept: dict[tuple, dict] = {}
    per_professional: dict[int, int] = {}
    for slot in candidates:
        pro = slot.professional
        dist = None
        if commune.has_point:
            dist = distance_km(
                commune.latitude, commune.longitude, slot.practice.latitude, slot.practice.longitude
            )
        if pro.pk == traitant_id:
            level = LEVEL_TRAITANT
        else:
            if dist is not None and dist > radius:
                continue
            level = LEVEL_PARTICIPANT if (pro.sas_participant or pro.cpts_level2) else LEVEL_OTHER
        if slot.is_plage and (pro.pk, slot.start, slot.end) in kept:
            kept[(pro.pk, slot.start, slot.end)]["places_left"] += 1
            continue
        if per_professional.get(pro.pk, 0) >= MAX_SLOTS_PER_PROFESSIONAL:
            continue
        per_professional[pro.pk] = per_professional.get(pro.pk, 0) + 1
        key = (pro.pk, slot.start, slot.end) if slot.is_plage else ("slot", slot.pk)
        kept[key] = {
            "slot": slot,
            "level": level,
            "distance_km": dist,
            "tie_break": _tie_break(request, pro.public_id),
            "places_left": 1,
            "held_by_me": slot.status == SlotStatus.HELD
            and user is not None
            and slot.held_by_id == getattr(user, "pk", None)
            and slot.held_until >= now,
        }
    ranked = [RankedSlot(**fields) for fields in kept.values()]
    ranked.sort(
        key=lambda r: (
            r.level,
            r.slot.start,
            round(r.distance_km or 0.0, 1),
            r.tie_break,
        )
    )
    return ranked[:limit]


def surnumeraire_doctors_for(*, request: Request, radius_km: float | None = None, limit: int = 10):
    """When no slot fits: nearby doctors who accept patients beyond their slots
    (surnuméraire), médecin traitant first, nearest first."""
    commune = request.patient.commune
    radius = radius_km or commune.departement.default_radius_km
    qs = Professional.objects.filter(
        active=True, accepts_surnumeraire=True, profession=Profession.MEDECIN
    ).prefetch_related("practices__commune")
    if commune.has_point:
        min_lat, max_lat, min_lon, max_lon = bounding_box(
            commune.latitude, commune.longitude, radius
        )
        qs = qs.filter(
            Q(practices__latitude__range=(min_lat, max_lat))
            & Q(practices__longitude__range=(min_lon, max_lon))
            | Q(pk=request.patient.medecin_traitant_id or 0)
        )
    found = []
    for pro in qs.distinct()[:200]:
        practice = pro.practices.first()
        if practice is None:
            continue
        dist = (
            distance_km(commune.latitude, commune.longitude, practice.latitude, practice.longitude)
            if commune.has_point
            else None
        )
        is_traitant = pro.pk == request.patient.medecin_traitant_id
        if dist is not None and dist > radius and not is_traitant:
            continue
        found.append((0 if is_traitant else 1, dist or 0.0, pro, practice))
    found.sort(key=lambda t: (t[0], t[1], t[2].rpps))
    return [
        {"professional": pro, "practice": practice, "distance_km": dist}
        for _, dist, pro, practice in found[:limit]
    ]


def bookings_for_professional(
    *, professional_id: int, since: datetime | None = None
) -> QuerySet[Booking]:
    qs = Booking.objects.filter(
        slot__professional_id=professional_id, status__in=ACTIVE_BOOKING_STATUSES
    ).select_related("slot__practice__commune", "request__patient", "request__motif")
    if since:
        qs = qs.filter(slot__start__gte=since)
    return qs.order_by("slot__start")


def booking_get_for_user(*, scope: Scope, public_id) -> Booking:
    qs = Booking.objects.select_related("slot__professional", "request__patient", "request__sas")
    if scope.professional_id and scope.can("patients.own"):
        booking = qs.filter(
            public_id=public_id, slot__professional_id=scope.professional_id
        ).first()
        if booking:
            return booking
    if scope.can("booking.cancel"):
        booking = (
            qs.filter(public_id=public_id)
            .filter(Q(request__sas_id__in=scope.sas_ids) | Q(request__cpts_id__in=scope.cpts_ids))
            .first()
        )
        if booking:
            return booking
    raise Http404("Rendez-vous introuvable.")


def active_booking_of(*, request: Request) -> Booking | None:
    return (
        request.bookings.filter(status__in=ACTIVE_BOOKING_STATUSES)
        .select_related("slot__professional", "slot__practice__commune")
        .first()
    )


def level2_calls_of(*, request: Request) -> list:
    from relais.orientation.models import Level2Call

    return list(
        Level2Call.objects.filter(request=request)
        .select_related("accepted_by")
        .annotate(
            offers_total=Count("offers"),
            offers_declined=Count("offers", filter=Q(offers__status="declined")),
        )
    )


def offer_get_by_token(*, token: str):
    """The niveau-2 offer a signed link points to, or None (bad or expired link)."""
    from relais.orientation.models import Level2Offer
    from relais.orientation.tokens import offer_public_id

    public_id = offer_public_id(token)
    if public_id is None:
        return None
    return (
        Level2Offer.objects.select_related(
            "professional",
            "call__request__patient__commune",
            "call__request__motif",
            "call__accepted_by",
        )
        .filter(public_id=public_id)
        .first()
    )


def professional_get_surnumeraire(*, public_id) -> Professional | None:
    return (
        Professional.objects.filter(public_id=public_id, accepts_surnumeraire=True, active=True)
        .prefetch_related("practices")
        .first()
    )
