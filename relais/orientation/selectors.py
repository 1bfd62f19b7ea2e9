"""Reads for orientation: the ranked slot search and bookings."""

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from relais.accounts.permissions import Scope
from relais.agenda.models import Channel, Modality, Slot, SlotStatus
from relais.directory.models import Practice, Profession, Professional
from relais.orientation.models import ACTIVE_BOOKING_STATUSES, Booking, BookingStatus
from relais.regulation.models import Decision, Request, UrgencyBand
from relais.territory.geo import bounding_box, distance_km
from relais.territory.hours import PARIS
from relais.territory.models import Cpts

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
# First page of a level's rows: twice the entries it needs, at least this many.
SEARCH_MIN_PAGE = 120
# Up to this many practices in the search box, slots are read practice by practice.
SEARCH_FEW_PRACTICES = 50
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


# --- Who may take which slot (issue 14: every write scoped like every read) -----------------

# The doors a write comes through; each has its channels (see slot_take_channels).
DOOR_UI = "ui"  # an operator's pages, or the JSON API with an operator's session
DOOR_API = "api"  # the JSON API with a partner's token
DOOR_FHIR = "fhir"  # the national SAS platform (FHIR, ANS guide)
DOOR_PUBLIC = "public"  # the patients' web booking (no operator)
DOORS = (DOOR_UI, DOOR_API, DOOR_FHIR, DOOR_PUBLIC)


def scope_is_api_client(scope: Scope) -> bool:
    return any(role.startswith("scope:") for role in scope.roles)


def _slot_territory(slot_id: int):
    """(SAS of the practice's département, SAS of the professional's CPTS, that CPTS,
    the practice's commune) of a slot, in one query; None if the slot is gone."""
    return (
        Slot.objects.filter(pk=slot_id)
        .values_list(
            "practice__commune__departement__sas__id",
            "professional__cpts__sas_id",
            "professional__cpts_id",
            "practice__commune_id",
        )
        .first()
    )


def professional_in_sas_scope(*, professional: Professional, scope: Scope) -> bool:
    """A professional belongs to a SAS territory when one of their practices is in its
    département, or their CPTS belongs to it."""
    if professional.cpts_id and professional.cpts.sas_id in scope.sas_ids:
        return True
    return Practice.objects.filter(
        professionals=professional, commune__departement__sas__id__in=list(scope.sas_ids)
    ).exists()


def professional_in_cpts_scope(*, professional: Professional, scope: Scope) -> bool:
    if not scope.cpts_ids:
        return False
    if professional.cpts_id in scope.cpts_ids:
        return True
    return Practice.objects.filter(
        professionals=professional, commune__cpts_set__id__in=list(scope.cpts_ids)
    ).exists()


def slot_take_channels(*, slot: Slot, scope: Scope, door: str) -> set[str]:
    """The channels on which `scope` may take `slot` through `door` (empty: out of reach).

    Territory: a slot is in a SAS territory when its practice's commune is in the SAS's
    département, or its professional's CPTS belongs to that SAS; in a CPTS territory when
    its professional is of that CPTS or its practice's commune is one of the CPTS's.
    Channel, by door: an operator (pages, or the API with a session) takes `for_sas` slots
    of their SAS territories and `for_cpts` slots of their CPTS territories; a partner's
    token takes `for_sas` or `for_partners` slots of its SAS territories (the JSON API is
    used by SAS regulation software and by partners); the national SAS platform (FHIR)
    takes `for_sas` slots, and `for_cpts` slots of a professional in a CPTS (the CPTS
    variant of the ANS guide, which its Slot search publishes), of its territories; the
    patients' web booking takes `for_public` slots only. The caller then takes the slot by
    a conditional UPDATE that repeats the channel flags (see orientation.services)."""
    if door not in DOORS:
        return set()
    if door == DOOR_PUBLIC:
        return {Channel.PUBLIC}
    row = _slot_territory(slot.pk)
    if row is None:
        return set()
    practice_sas, cpts_sas, cpts_id, commune_id = row
    in_sas = bool({practice_sas, cpts_sas} & scope.sas_ids)
    if door == DOOR_FHIR:
        if not in_sas:
            return set()
        return {Channel.SAS, Channel.CPTS} if cpts_id else {Channel.SAS}
    if door == DOOR_API and scope_is_api_client(scope):
        return {Channel.SAS, Channel.PARTNER} if in_sas else set()
    channels = {Channel.SAS} if in_sas else set()
    if scope.cpts_ids and (
        cpts_id in scope.cpts_ids
        or Cpts.communes.through.objects.filter(
            commune_id=commune_id, cpts_id__in=list(scope.cpts_ids)
        ).exists()
    ):
        channels.add(Channel.CPTS)
    return channels


def channels_q(channels) -> Q:
    """Slots open on at least one of `channels` (a condition on the slot row itself)."""
    q = Q(pk__in=[])
    for channel in channels:
        q |= Q(**{CHANNEL_FIELDS[channel]: True})
    return q


def request_in_scope(*, request: Request, scope: Scope) -> bool:
    return request.sas_id in scope.sas_ids or (
        request.cpts_id is not None and request.cpts_id in scope.cpts_ids
    )


def live_holds_count(*, user, now: datetime, exclude_slot_id: int | None = None) -> int:
    qs = Slot.objects.filter(status=SlotStatus.HELD, held_by_id=user.pk, held_until__gte=now)
    if exclude_slot_id is not None:
        qs = qs.exclude(pk=exclude_slot_id)
    return qs.count()


# --- Who a slot accepts (issue 19: one eligibility rule, the search's and the booking's) ----

# The régulateur's decision fixes the modality of the slot the patient gets.
DECISION_MODALITIES = {
    Decision.TELECONSULTATION: Modality.TELECONSULTATION,
    Decision.VISITE: Modality.VISITE,
}


@dataclass(frozen=True)
class Criterion:
    """One condition a slot must meet to take a request: `q` filters slots (the search
    reads with it, the booking repeats it in its conditional UPDATE), `why` says in
    French why a slot failing it is refused."""

    code: str
    q: Q
    why: str


def _motif_names(rule_id: int | None) -> str:
    from relais.agenda.models import AvailabilityRule

    if rule_id is None:
        return ""
    codes = AvailabilityRule.motifs.through.objects.filter(availabilityrule_id=rule_id)
    return ", ".join(
        sorted(f"{m.motif.code} {m.motif.label}".strip() for m in codes.select_related("motif"))
    )


def eligibility_criteria(request: Request, slot: Slot | None = None) -> list[Criterion]:
    """The conditions of the one eligibility rule: age range, motifs of the slot's rule
    (no motif list = all), and the modality the régulateur decided. With a `slot`, the
    messages name its limits (only built on a refusal)."""
    from relais.agenda.models import AvailabilityRule

    criteria = []
    age = request.patient.age
    if age is not None:
        low = getattr(slot, "age_min", None)
        high = getattr(slot, "age_max", None)
        if low is not None and high is not None:
            limits = f"de {low} à {high} ans"
        elif low is not None:
            limits = f"à partir de {low} ans"
        else:
            limits = f"jusqu'à {high} ans" if high is not None else ""
        criteria.append(
            Criterion(
                "age",
                (Q(age_min__isnull=True) | Q(age_min__lte=age))
                & (Q(age_max__isnull=True) | Q(age_max__gte=age)),
                f"Ce créneau n'accepte que les patients {limits} ; le patient a {age} ans.",
            )
        )
    if request.motif_id is not None:
        restricted = AvailabilityRule.motifs.through.objects.filter(
            availabilityrule_id=OuterRef("rule_id")
        )
        accepts = restricted.filter(motif_id=request.motif_id)
        accepted = _motif_names(getattr(slot, "rule_id", None)) if slot is not None else ""
        criteria.append(
            Criterion(
                "motif",
                Q(rule__isnull=True) | ~Exists(restricted) | Exists(accepts),
                f"Ce créneau est réservé à d'autres motifs ({accepted}) ; motif de la "
                f"demande : {request.motif.code} {request.motif.label}.",
            )
        )
    wanted = DECISION_MODALITIES.get(request.decision)
    if wanted is not None:
        shown = Modality(slot.modality).label.lower() if slot is not None else ""
        criteria.append(
            Criterion(
                "modality",
                Q(modality=wanted),
                f"Le médecin régulateur a décidé : {Modality(wanted).label.lower()} ; "
                f"ce créneau est en {shown}.",
            )
        )
    return criteria


def eligible_q(request: Request) -> Q:
    """Slots the request may take (every criterion of eligibility_criteria)."""
    q = Q()
    for criterion in eligibility_criteria(request):
        q &= criterion.q
    return q


def slot_ineligibility(*, slot: Slot, request: Request) -> list[Criterion]:
    """The criteria `slot` fails for `request` (empty: eligible), read from the database
    with the same conditions as the search and the booking's UPDATE."""
    return [
        criterion
        for criterion in eligibility_criteria(request, slot)
        if not Slot.objects.filter(pk=slot.pk).filter(criterion.q).exists()
    ]


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
    scope: Scope | None = None,
    remember: bool | None = None,
) -> list[RankedSlot]:
    """Available slots for a request, best first.

    Order: the patient's médecin traitant first, then professionals participating in
    the SAS or the CPTS, then the others; within a level the earliest slot, then the
    nearest, then a neutral tie-break. `widen` doubles the radius and the horizon.
    Only slots the professional opened to `channel` are offered; slots held by another
    operator are hidden until their hold lapses. A plage shows once, with its places left.
    With a `scope`, slots outside its territory (see slot_take_channels: the radius may
    cross a border) are left out of the result, as the booking would refuse them.
    `remember` (default: when `limit` is not given) keeps the ranking for the
    alternatives of a refused booking (alternatives_from_last_ranking).
    """
    # A search as shown to a caller (the default length) is remembered for the
    # alternatives of a refused booking (ranking_remember); the shorter ones are not.
    remember = limit is None if remember is None else remember
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
    )
    if modality:
        base = base.filter(modality=modality)
    base = base.filter(eligible_q(request))
    if commune.has_point:
        min_lat, max_lat, min_lon, max_lon = bounding_box(
            commune.latitude, commune.longitude, radius
        )
        # A box with few practices (the countryside): their ids first (one indexed read),
        # then their slots, practice by practice (slot_open_practice_start_idx; one array
        # parameter, see core.lookups). Any other box: the window read by time, the box
        # checked on the slot's own copy of its practice's coordinates inside the time
        # index (slot_open_start_place_idx), so slots outside are skipped there without a
        # join. Joined to practice for its coordinates, the planner misjudged how many
        # slots a box holds: it scanned a whole day of the country for a rural box (1 s) or
        # sorted tens of thousands of Paris slots (docs/benchmarks.md).
        boxed = list(
            Practice.objects.filter(
                latitude__range=(min_lat, max_lat), longitude__range=(min_lon, max_lon)
            )
            .order_by()
            .values_list("pk", flat=True)[: SEARCH_FEW_PRACTICES + 1]
        )
        if len(boxed) <= SEARCH_FEW_PRACTICES:
            near = base.filter(practice__id__any_of=boxed)
        else:
            near = base.filter(
                latitude__range=(min_lat, max_lat), longitude__range=(min_lon, max_lon)
            )
    else:  # no coordinates (some overseas collectivities): same commune only
        near = base.filter(practice__commune=commune)
    near = near.exclude(professional__level2_only=True)
    if traitant_id:
        near = near.exclude(professional_id=traitant_id)
    # Three levels, each read earliest first by keyset pages (see _level_entries): the
    # médecin traitant's slots (whatever the distance), the participants', the others'.
    # A level stops as soon as the rows still unread cannot enter the result (they start
    # later than the last result it needs), and the next levels are not read at all once
    # the result is full: the order is level first, so none of their rows could rank.
    # Candidates are plain tuples; model instances are built for the kept slots only.
    participant = Q(professional__sas_participant=True) | Q(professional__cpts_level2=True)
    levels = []
    if traitant_id:
        levels.append((LEVEL_TRAITANT, base.filter(professional_id=traitant_id)))
    levels.append((LEVEL_PARTICIPANT, near.filter(participant)))
    levels.append((LEVEL_OTHER, near.exclude(participant)))

    entries: list[dict] = []
    capacity = _Capacity()
    for level, qs in levels:
        need = limit - len(entries)
        if need <= 0:
            break
        entries += _level_entries(
            request=request,
            qs=qs.values_list(*_CANDIDATE_FIELDS),
            level=level,
            need=need,
            commune=commune,
            radius=None if level == LEVEL_TRAITANT else radius,
            user=user,
            now=now,
            capacity=capacity,
        )
    if scope is not None and entries:
        reachable = set(
            Slot.objects.filter(pk__in=[entry["slot_pk"] for entry in entries])
            .filter(territory_q(scope))
            .values_list("pk", flat=True)
        )
        entries = [entry for entry in entries if entry["slot_pk"] in reachable]
    slots = Slot.objects.select_related("professional", "practice__commune").only(*RANKED_FIELDS)
    by_pk = slots.in_bulk([entry["slot_pk"] for entry in entries])
    ranked = [RankedSlot(slot=by_pk[entry.pop("slot_pk")], **entry) for entry in entries]
    if remember:
        ranking_remember(request=request, ranked=ranked, user=user, scope=scope)
    return ranked


# -- The caller's last ranking of a request (issue 22: cheap refusals) ---------------------
#
# A refused booking (409) offers alternatives. Running a whole ranked search inside the
# refused call cost ~15 ms of CPU; the JSON API answers instead from the ranking this
# caller last saw for the request (kept RANKING_SECONDS in Django's cache: per process
# without CACHE_URL, shared with Redis), re-checked in one bounded primary-key query: the
# slots of it still takeable, best first. No ranking seen (or expired): no alternatives,
# and the error body links the ranked search (`alternatives_url`).

RANKING_SECONDS = 600


def _ranking_key(request_pk: int, user, scope: Scope | None) -> str:
    who = f"user:{user.pk}" if getattr(user, "pk", None) else "-"
    if scope is not None:
        who += "|" + "|".join(
            ",".join(str(x) for x in sorted(part))
            for part in (scope.roles, scope.sas_ids, scope.cpts_ids)
        )
        who += f"|{scope.professional_id}"
    digest = hashlib.sha256(who.encode()).hexdigest()[:20]
    return f"orientation:ranking:{request_pk}:{digest}"


def ranking_remember(*, request: Request, ranked, user=None, scope: Scope | None = None) -> None:
    from django.core.cache import cache

    rows = [(r.slot.pk, r.level, r.distance_km, r.tie_break, r.places_left) for r in ranked]
    cache.set(_ranking_key(request.pk, user, scope), rows, RANKING_SECONDS)


def alternatives_from_last_ranking(
    *,
    request: Request,
    exclude_slot_id: int,
    user=None,
    scope: Scope | None = None,
    exclude_professional: int | None = None,
    count: int = 3,
    now: datetime | None = None,
) -> list[RankedSlot]:
    """Up to `count` slots of the caller's last ranking of `request` still takeable
    (free, a lapsed hold or held by `user`; not starting within MIN_LEAD), in its order,
    without `exclude_slot_id` nor `exclude_professional`'s; [] when none is remembered."""
    from django.core.cache import cache

    rows = cache.get(_ranking_key(request.pk, user, scope)) or []
    rows = [r for r in rows if r[0] != exclude_slot_id]
    if not rows:
        return []
    now = now or timezone.now()
    slots = (
        Slot.objects.select_related("professional", "practice__commune")
        .only(*RANKED_FIELDS)
        .filter(available_q(now=now, user=user), start__gt=now + MIN_LEAD)
        .filter(pk__in=[r[0] for r in rows])
    )
    if exclude_professional is not None:
        slots = slots.exclude(professional_id=exclude_professional)
    by_pk = {slot.pk: slot for slot in slots}
    kept = [
        RankedSlot(slot=by_pk[pk], level=level, distance_km=km, tie_break=tie, places_left=left)
        for pk, level, km, tie, left in rows
        if pk in by_pk
    ]
    return kept[:count]


def territory_q(scope: Scope) -> Q:
    """Slots in the scope's territories (the rule of slot_take_channels, as a filter)."""
    sas_ids, cpts_ids = list(scope.sas_ids), list(scope.cpts_ids)
    q = Q(practice__commune__departement__sas__id__in=sas_ids) | Q(
        professional__cpts__sas_id__in=sas_ids
    )
    if cpts_ids:
        q |= Q(professional__cpts_id__in=cpts_ids) | Q(practice__commune__cpts_set__id__in=cpts_ids)
    return q


# What ranking a candidate needs, in this order (see _level_entries).
_CANDIDATE_FIELDS = (
    "pk",
    "start",
    "end",
    "is_plage",
    "status",
    "held_by_id",
    "held_until",
    "professional_id",
    "professional__public_id",
    "latitude",  # the slot's copy of its practice's coordinates
    "longitude",
    "professional__max_snp_per_day",
    "professional__max_snp_per_week",
)


def professional_snp_counts(*, professional_id: int, start: datetime, end: datetime):
    """SNP patients of a professional (non-cancelled bookings) by Paris date and by ISO
    week (its Monday), for slots starting in [start, end). One query."""
    by_day: Counter = Counter()
    by_week: Counter = Counter()
    for slot_start in Booking.objects.filter(
        slot__professional_id=professional_id,
        status__in=ACTIVE_BOOKING_STATUSES,
        slot__start__gte=start,
        slot__start__lt=end,
    ).values_list("slot__start", flat=True):
        day = timezone.localtime(slot_start).date()
        by_day[day] += 1
        by_week[monday_of(day)] += 1
    return by_day, by_week


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_bounds(day: date) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) of `day`'s ISO week, Paris time."""
    monday = monday_of(day)
    return (
        datetime.combine(monday, time.min, tzinfo=PARIS),
        datetime.combine(monday + timedelta(days=7), time.min, tzinfo=PARIS),
    )


class _Capacity:
    """During one search: is a capped professional's SNP cap reached on a slot's day or
    week? Counts are read once per capped professional met (most have no cap: no query)."""

    def __init__(self):
        self.counts: dict[int, tuple] = {}

    def full(self, professional_id: int, start: datetime, *, per_day, per_week) -> bool:
        day = timezone.localtime(start).date()
        if professional_id not in self.counts:
            # The search window is at most a few days: this week and the next cover it.
            lower, _ = week_bounds(day)
            self.counts[professional_id] = professional_snp_counts(
                professional_id=professional_id, start=lower, end=lower + timedelta(days=21)
            )
        by_day, by_week = self.counts[professional_id]
        return (per_day is not None and by_day[day] >= per_day) or (
            per_week is not None and by_week[monday_of(day)] >= per_week
        )


def _level_entries(
    *, request, qs, level, need, commune, radius, user, now, capacity: "_Capacity"
) -> list[dict]:
    """The best `need` entries of one level (RankedSlot fields, with the slot's pk).

    Reads `qs` (candidate tuples) by (start, id) in keyset pages that double in size, so no
    row is read twice or skipped. Keeps at most MAX_SLOTS_PER_PROFESSIONAL per professional
    (their earliest), merges the places of a plage into one entry, drops rows beyond
    `radius` (the bounding box's corners; None keeps all). Once `need` entries are kept,
    only the rows starting at the same time as the need-th can still enter (nearer, or
    another place of a plage): they are read in one query, and nothing later.
    """
    kept: dict[tuple, dict] = {}
    per_professional: dict[int, int] = {}
    boundary = None  # start of the need-th entry kept
    user_pk = getattr(user, "pk", None) if user is not None else None

    def take(row) -> bool:
        """Rank one row; False once rows can no longer enter (they start too late)."""
        nonlocal boundary
        (pk, start, end, is_plage, status, held_by, held_until, pro_pk, pro_public_id) = row[:9]
        latitude, longitude, per_day, per_week = row[9:]
        if boundary is not None and start > boundary:
            return False
        if (per_day is not None or per_week is not None) and capacity.full(
            pro_pk, start, per_day=per_day, per_week=per_week
        ):
            return True  # the professional's SNP cap for that day or week is reached
        dist = None
        if commune.has_point:
            dist = distance_km(commune.latitude, commune.longitude, latitude, longitude)
        if radius is not None and dist is not None and dist > radius:
            return True
        plage_key = (pro_pk, start, end)
        if is_plage and plage_key in kept:
            kept[plage_key]["places_left"] += 1
            return True
        if per_professional.get(pro_pk, 0) >= MAX_SLOTS_PER_PROFESSIONAL:
            return True
        per_professional[pro_pk] = per_professional.get(pro_pk, 0) + 1
        kept[plage_key if is_plage else ("slot", pk)] = {
            "slot_pk": pk,
            "start": start,
            "level": level,
            "distance_km": dist,
            "tie_break": _tie_break(request, pro_public_id),
            "places_left": 1,
            "held_by_me": status == SlotStatus.HELD
            and user_pk is not None
            and held_by == user_pk
            and held_until >= now,
        }
        if boundary is None and len(kept) == need:
            boundary = start
        return True

    page, after = max(2 * need, SEARCH_MIN_PAGE), None
    while True:
        q = qs
        if after is not None:
            q = q.filter(start__gte=after[0]).filter(Q(start__gt=after[0]) | Q(pk__gt=after[1]))
        rows = list(q.order_by("start", "pk")[:page])
        if not all(take(row) for row in rows) or len(rows) < page:
            break
        after = (rows[-1][1], rows[-1][0])
        if boundary is not None:
            # Every row read so far was taken, so the last one starts at `boundary`; the
            # rows left at that same start can still enter: read them at once, then stop.
            for row in qs.filter(start=boundary, pk__gt=after[1]).order_by("pk"):
                take(row)
            break
        page *= 2
    ranked = sorted(
        kept.values(), key=lambda e: (e["start"], round(e["distance_km"] or 0.0, 1), e["tie_break"])
    )[:need]
    for entry in ranked:
        del entry["start"]
    return ranked


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


def bookings_to_record(*, professional_id: int, now: datetime | None = None) -> QuerySet[Booking]:
    """Past appointments of the professional still without an outcome, every day (an
    outcome not recorded the same evening is never lost), oldest first."""
    now = now or timezone.now()
    return (
        Booking.objects.filter(
            slot__professional_id=professional_id,
            status=BookingStatus.BOOKED,
            slot__start__lte=now,
        )
        .select_related("slot__practice__commune", "request__patient", "request__motif")
        .order_by("slot__start")
    )


def bookings_correctable(
    *, professional_id: int, days: int, now: datetime | None = None
) -> QuerySet[Booking]:
    """Outcomes the professional recorded in the last `days` days (still correctable)."""
    now = now or timezone.now()
    return (
        Booking.objects.filter(
            slot__professional_id=professional_id,
            status__in=[BookingStatus.FULFILLED, BookingStatus.NOSHOW],
            outcome_recorded_at__gte=now - timedelta(days=days),
        )
        .select_related("slot__practice__commune", "request__patient", "request__motif")
        .order_by("-slot__start")
    )


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
