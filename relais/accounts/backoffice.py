"""Who administers what: the territory a back-office user manages, from the roles that
grant it (a SAS administrator: their SAS and its CPTS; a CPTS coordinator: their CPTS).

Other roles of the same person never widen it: an operator of SAS 43 who coordinates
CPTS B manages CPTS B only."""

from dataclasses import dataclass

from relais.accounts.models import Role

# Roles held in a SAS (a département) and roles held in one CPTS.
SAS_ROLES = (Role.ARM, Role.REGULATEUR, Role.OPERATEUR, Role.ADMIN)
CPTS_ROLES = (Role.EFFECTEUR, Role.DELEGATAIRE, Role.ADRESSEUR, Role.COORDINATEUR)
# Roles a coordinator may grant in their CPTS (never a SAS role, never admin).
COORDINATOR_GRANTS = (Role.EFFECTEUR, Role.DELEGATAIRE, Role.ADRESSEUR, Role.COORDINATEUR)


@dataclass(frozen=True)
class Managed:
    sas_ids: frozenset[int] = frozenset()  # SAS the user administers
    cpts_ids: frozenset[int] = frozenset()  # CPTS coordinated, or in an administered SAS
    departement_codes: frozenset[str] = frozenset()  # of the administered SAS

    @property
    def is_admin(self) -> bool:
        return bool(self.sas_ids)

    @property
    def any(self) -> bool:
        return bool(self.sas_ids or self.cpts_ids)

    def grantable_roles(self) -> list[str]:
        return list(Role.values) if self.is_admin else list(COORDINATOR_GRANTS)


def managed_for(user) -> Managed:
    if not getattr(user, "is_authenticated", False):
        return Managed()
    cached = getattr(user, "_relais_managed", None)
    if cached is not None:
        return cached
    from relais.territory.models import Cpts

    memberships = list(
        user.memberships.filter(role__in=[Role.ADMIN, Role.COORDINATEUR]).select_related(
            "sas__departement"
        )
    )
    sas_ids = {m.sas_id for m in memberships if m.role == Role.ADMIN and m.sas_id}
    deps = {m.sas.departement.code for m in memberships if m.role == Role.ADMIN and m.sas_id}
    cpts_ids = {m.cpts_id for m in memberships if m.role == Role.COORDINATEUR and m.cpts_id}
    if sas_ids:
        cpts_ids |= set(Cpts.objects.filter(sas_id__in=sas_ids).values_list("pk", flat=True))
    managed = Managed(frozenset(sas_ids), frozenset(cpts_ids), frozenset(deps))
    user._relais_managed = managed
    return managed
