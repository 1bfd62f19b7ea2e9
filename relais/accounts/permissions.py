"""Who may do what, and on which territory. Every view, API and FHIR endpoint
goes through these helpers; selectors take the resulting Scope."""

from dataclasses import dataclass, field
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from relais.accounts.models import Role

# Action -> roles allowed. One table, so a reviewer sees the whole policy at once.
# API clients hold "scope:<scope>" pseudo-roles, so one table covers people and partners.
POLICY: dict[str, set[str]] = {
    "request.create": {Role.ARM, Role.REGULATEUR, Role.OPERATEUR, "scope:requests:write"},
    "request.view": {
        Role.ARM,
        Role.REGULATEUR,
        Role.OPERATEUR,
        Role.ADMIN,
        "scope:requests:read",
        "scope:requests:write",
    },
    "request.orient": {Role.REGULATEUR, Role.OPERATEUR, "scope:appointments:write"},
    "request.decide": {Role.REGULATEUR},
    "request.refer": {Role.EFFECTEUR, Role.ADRESSEUR},
    "referrals.own": {Role.EFFECTEUR, Role.ADRESSEUR},
    "patients.export": {Role.ADMIN},
    "request.merge": {Role.ARM, Role.REGULATEUR, Role.OPERATEUR},
    "booking.create": {Role.REGULATEUR, Role.OPERATEUR, "scope:appointments:write"},
    "booking.cancel": {Role.REGULATEUR, Role.OPERATEUR, "scope:appointments:write"},
    "patients.own": {Role.EFFECTEUR},
    "agenda.manage": {Role.EFFECTEUR, Role.DELEGATAIRE},
    "agenda.delegate": {Role.EFFECTEUR},
    "motifs.read": {Role.ARM, Role.REGULATEUR, Role.OPERATEUR, "scope:motifs:read"},
    "indicators.view": {Role.COORDINATEUR, Role.ADMIN, Role.REGULATEUR, "scope:indicators:read"},
    "fhir.slots.read": {"scope:slots:read"},
    "fhir.appointments.read": {"scope:appointments:read", "scope:appointments:write"},
    "fhir.appointments.write": {"scope:appointments:write"},
    "fhir.regulators.write": {"scope:regulators:write"},
    # API clients page: what each role may grant is in relais.accounts.api_clients.
    "api_clients.manage": {Role.ADMIN, Role.COORDINATEUR},
    "interop.reports": {Role.ADMIN},
    "audit.view": {Role.ADMIN},
    "audit.export": {Role.ADMIN},
    "notifications.failed": {Role.COORDINATEUR, Role.ADMIN},
    # Back-office (docs/administration.md): the territory is relais.accounts.backoffice.
    "backoffice.view": {Role.COORDINATEUR, Role.ADMIN},
    "territory.manage": {Role.COORDINATEUR, Role.ADMIN},
    "sas.manage": {Role.ADMIN},
    "directory.manage": {Role.COORDINATEUR, Role.ADMIN},
    "people.manage": {Role.COORDINATEUR, Role.ADMIN},
}


@dataclass(frozen=True)
class Scope:
    """The territories a user acts on, for one set of roles."""

    roles: frozenset[str] = frozenset()
    sas_ids: frozenset[int] = frozenset()
    cpts_ids: frozenset[int] = frozenset()
    departement_codes: frozenset[str] = frozenset()
    professional_id: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def can(self, action: str) -> bool:
        return bool(self.roles & POLICY.get(action, set()))


def scope_for(user) -> Scope:
    if not getattr(user, "is_authenticated", False):
        return Scope()
    cached = getattr(user, "_relais_scope", None)
    if cached is not None:
        return cached
    roles, sas_ids, cpts_ids, deps = set(), set(), set(), set()
    for m in user.memberships.select_related("sas__departement", "cpts__sas__departement"):
        roles.add(m.role)
        if m.cpts_id:
            cpts_ids.add(m.cpts_id)
            deps.add(m.cpts.sas.departement.code)
        if m.sas_id:
            sas_ids.add(m.sas_id)
            deps.add(m.sas.departement.code)
    professional = getattr(user, "professional", None) if Role.EFFECTEUR in roles else None
    scope = Scope(
        roles=frozenset(roles),
        sas_ids=frozenset(sas_ids),
        cpts_ids=frozenset(cpts_ids),
        departement_codes=frozenset(deps),
        professional_id=professional.pk if professional else None,
    )
    user._relais_scope = scope
    return scope


def scope_for_api_client(client) -> Scope:
    from django.db.models import CharField, Exists, Q, Value

    from relais.territory.models import Sas

    # A client limited to some SAS sees those; one limited to some CPTS sees those CPTS
    # only (no SAS: requests, indicators and slots of the CPTS); one without a limit sees
    # every SAS. One query either way (it runs on every API call): a UNION of the SAS rows
    # and the CPTS limit rows.
    limits = client.sas_scope.through.objects.filter(apiclient_id=client.pk)
    cpts_limits = client.cpts_scope.through.objects.filter(apiclient_id=client.pk)
    kind = Value("sas", output_field=CharField())
    sas = (
        Sas.objects.filter(
            Q(pk__in=limits.values("sas_id")) | (~Exists(limits) & ~Exists(cpts_limits))
        )
        .annotate(kind=kind)
        .values_list("kind", "pk", "departement__code")
    )
    cpts = cpts_limits.annotate(kind=Value("cpts", output_field=CharField())).values_list(
        "kind", "cpts_id", "cpts__sas__departement__code"
    )
    rows = list(sas.union(cpts, all=True))
    return Scope(
        roles=frozenset(f"scope:{s}" for s in client.scopes),
        sas_ids=frozenset(pk for k, pk, _ in rows if k == "sas"),
        cpts_ids=frozenset(pk for k, pk, _ in rows if k == "cpts"),
        departement_codes=frozenset(code for _, _, code in rows),
    )


def cpts_limit_q(scope: Scope, *, professional: str = "professional"):
    """The professionals a CPTS-only scope may see (an API client limited to some CPTS:
    those CPTS's members, main or other CPTS); no restriction for any other scope. Reads
    by département (the FHIR Slot search) add it so that a CPTS's software never sees
    the other CPTS of its département."""
    from django.db.models import Q

    if scope.sas_ids or not scope.cpts_ids:
        return Q()
    ids = sorted(scope.cpts_ids)
    return Q(**{f"{professional}__cpts_id__in": ids}) | Q(
        **{f"{professional}__other_cpts__in": ids}
    )


def require(*actions: str):
    """View decorator: login required, then one of the actions must be allowed for the
    user's roles."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            scope = scope_for(request.user)
            if not any(scope.can(action) for action in actions):
                raise PermissionDenied("Votre rôle ne permet pas cette action.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
