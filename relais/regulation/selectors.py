"""Reads for regulation, always scoped to the user's territory."""

from datetime import timedelta

from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.http import Http404

from relais.accounts.permissions import Scope
from relais.regulation.models import (
    Motif,
    Patient,
    Priority,
    Request,
    RequestStatus,
    UrgencyBand,
)


def _scoped(qs: QuerySet[Request], scope: Scope) -> QuerySet[Request]:
    if not scope.sas_ids and not scope.cpts_ids:
        return qs.none()
    # One array parameter each (`any_of`): a client without SAS limit holds all ~100 SAS,
    # whose IN list cost ~0.4 ms of Python per query.
    return qs.filter(Q(sas__id__any_of=scope.sas_ids) | Q(cpts__id__any_of=scope.cpts_ids))


def requests_for(*, scope: Scope, statuses: list[str] | None = None) -> QuerySet[Request]:
    if not scope.can("request.view"):
        return Request.objects.none()
    qs = _scoped(Request.objects.all(), scope).select_related("patient__commune", "motif", "cpts")
    if statuses:
        qs = qs.filter(status__in=statuses)
    return qs


def _band_duration() -> Case:
    """The delay band's upper bound as a duration (the band is stored as text, whose
    order "12-24h" < "24-48h" < "4-8h" is not the urgency's)."""
    return Case(
        *[
            When(urgency=band.value, then=Value(timedelta(hours=band.max_hours)))
            for band in UrgencyBand
        ],
        default=Value(timedelta(hours=48)),
        output_field=DurationField(),
    )


def with_deadline(qs: QuerySet[Request]) -> QuerySet[Request]:
    """Annotate `deadline` (received + the band's upper bound) and `alarm` (0 for an
    unresolved red flag or a P0/P1 priority, 1 otherwise)."""
    return qs.annotate(
        deadline=ExpressionWrapper(
            F("created_at") + _band_duration(), output_field=DateTimeField()
        ),
        alarm=Case(
            When(Q(red_flag=True, red_flag_override_at__isnull=True), then=Value(0)),
            When(priority__in=[Priority.P0, Priority.P1], then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
    )


def worklist_ordered(qs: QuerySet[Request]) -> QuerySet[Request]:
    """The worklist order, for every door (pages, JSON API): red flags and P0/P1 first,
    then the nearest deadline, then the oldest."""
    return with_deadline(qs).order_by("alarm", "deadline", "created_at", "pk")


def requests_worklist(*, scope: Scope) -> QuerySet[Request]:
    """Requests to orient, ordered by deadline (see worklist_ordered)."""
    return worklist_ordered(requests_for(scope=scope, statuses=[RequestStatus.OPEN]))


def deadline_state(req: Request, *, now) -> str:
    """How near a request's deadline is, for its colour: "over" (passed), "soon" (in
    the last quarter of its band), "ok". Needs with_deadline's annotation."""
    remaining = req.deadline - now
    if remaining <= timedelta(0):
        return "over"
    band = timedelta(hours=UrgencyBand(req.urgency).max_hours)
    if remaining <= band / 4:
        return "soon"
    return "ok"


def requests_to_regulate(*, scope: Scope) -> QuerySet[Request]:
    """Requests waiting for the médecin régulateur, in the same order."""
    return worklist_ordered(requests_for(scope=scope, statuses=[RequestStatus.TO_REGULATE]))


# What a request page, the search and the API's reads use of a request.
REQUEST_RELATED = (
    "patient__commune__departement",
    "patient__medecin_traitant",
    "motif",
    "sas",
    "cpts",
)


def _request_get(scope: Scope, public_id, related: tuple[str, ...]) -> Request:
    if not scope.can("request.view"):
        raise Http404("Demande introuvable.")
    req = (
        _scoped(Request.objects.all(), scope)
        .select_related(*related)
        .filter(public_id=public_id)
        .order_by()  # public_id is unique: no sort
        .first()
    )
    if req is None:
        raise Http404("Demande introuvable.")
    return req


def request_get_for_user(*, scope: Scope, public_id) -> Request:
    """The one way a view loads a request: scoped, 404 otherwise (no existence leak)."""
    return _request_get(scope, public_id, REQUEST_RELATED)


def request_get_for_booking(*, scope: Scope, public_id) -> Request:
    """A request about to be booked through the API: scoped and 404 like
    request_get_for_user, but loaded with its patient only. A booking reads nothing else
    of it, and the eight-table join of the full selector costs PostgreSQL ~3 ms of
    planning per call (docs/benchmarks.md); a refused booking loads what its
    alternatives need lazily."""
    return _request_get(scope, public_id, ("patient",))


def motifs_all() -> QuerySet[Motif]:
    return Motif.objects.all()


def patients_for(*, scope: Scope) -> QuerySet[Patient]:
    """The patient records of the caller's territory: owned by one of its SAS, or (for a
    CPTS member) with a request of one of its CPTS. Anonymised records are out."""
    if not scope.sas_ids and not scope.cpts_ids:
        return Patient.objects.none()
    in_cpts = Request.objects.filter(cpts_id__in=scope.cpts_ids).values("patient_id")
    return Patient.objects.filter(anonymised_at__isnull=True).filter(
        Q(sas_id__in=scope.sas_ids) | Q(pk__in=in_cpts)
    )


def patient_get_for_scope(*, scope: Scope, public_id) -> Patient:
    """A patient the caller may take up (intake, API, FHIR): 404 outside its territory,
    exactly as for a patient that does not exist."""
    patient = (
        patients_for(scope=scope)
        .select_related("commune__departement", "medecin_traitant", "sas")
        .filter(public_id=public_id)
        .first()
        if scope.can("request.create") or scope.can("request.refer")
        else None
    )
    if patient is None:
        raise Http404("Patient introuvable.")
    return patient


def patient_candidates(
    *, scope: Scope, last_name: str, first_name: str, birth_date, limit: int = 5
) -> list[Patient]:
    """Records of the caller's territory with the same names and birth date: proposed to
    the operator, who confirms one or creates a new record. Nothing outside the
    territory is ever proposed (nor hinted at)."""
    last, first = last_name.strip(), first_name.strip()
    if not last or not first or not (scope.can("request.create") or scope.can("request.refer")):
        return []
    return list(
        patients_for(scope=scope)
        .filter(last_name__iexact=last, first_name__iexact=first, birth_date=birth_date)
        .select_related("commune", "medecin_traitant")
        .order_by("-updated_at")[:limit]
    )


def patients_search(*, scope: Scope, query: str, limit: int = 8) -> list[Patient]:
    """Known patients of the user's territory matching a name (for intake, no duplicates)."""
    query = query.strip()
    # Longer than any stored name or phone: nothing can start with it.
    if not 2 <= len(query) <= 100 or not scope.can("request.create"):
        return []
    return list(
        patients_for(scope=scope)
        .filter(Q(last_name__istartswith=query) | Q(phone__startswith=query))
        .select_related("commune", "medecin_traitant")
        .order_by("last_name", "first_name")[:limit]
    )


def motif_get(*, code: str) -> Motif | None:
    return Motif.objects.filter(code=code.strip().upper()).first()


def motif_suggestions(*, text: str, limit: int = 5):
    """CISP-2 suggestions and red flags for free text (see regulation/matching.py)."""
    from relais.regulation.matching import get_matcher

    return get_matcher().match(text[:500], limit=limit)


def request_by_follow_token(*, token: str) -> Request | None:
    """The request a patient's signed follow-up link points to (no login)."""
    from relais.regulation.tokens import follow_public_id

    public_id = follow_public_id(token)
    if public_id is None:
        return None
    return Request.objects.select_related("cpts").filter(public_id=public_id).first()
