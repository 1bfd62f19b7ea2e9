"""Writes for the directory: participation settings and agenda delegations."""

from django.db import IntegrityError, transaction

from relais.accounts.models import Role, User
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError
from relais.directory.models import Delegation, ParticipationMode, Professional

MAX_SNP_PER_DAY = 50
MAX_SNP_PER_WEEK = 200


def professional_update_participation(
    *,
    professional: Professional,
    sas_participant: bool,
    participation_mode: str,
    level2_only: bool,
    max_snp_per_day: int | None,
    max_snp_per_week: int | None,
    declares_two_hours: bool,
    actor=None,
) -> Professional:
    """Participation as the national SAS platform records it. Taking part in the SAS
    implies accepting patients en surnuméraire."""
    errors = []
    if participation_mode not in ParticipationMode.values:
        errors.append("Mode de participation inconnu.")
    if max_snp_per_day is not None and not 1 <= max_snp_per_day <= MAX_SNP_PER_DAY:
        errors.append(f"Le maximum par jour doit être compris entre 1 et {MAX_SNP_PER_DAY}.")
    if max_snp_per_week is not None and not 1 <= max_snp_per_week <= MAX_SNP_PER_WEEK:
        errors.append(f"Le maximum par semaine doit être compris entre 1 et {MAX_SNP_PER_WEEK}.")
    if (
        max_snp_per_day is not None
        and max_snp_per_week is not None
        and max_snp_per_week < max_snp_per_day
    ):
        errors.append("Le maximum par semaine ne peut pas être inférieur au maximum par jour.")
    if sas_participant and level2_only:
        errors.append(
            "« Niveau 2 uniquement » exclut la participation au SAS (niveau 1) : choisissez l'un "
            "ou l'autre."
        )
    if errors:
        raise ApplicationError(" ".join(errors), code="invalid_participation")
    professional.sas_participant = sas_participant
    professional.accepts_surnumeraire = sas_participant or professional.accepts_surnumeraire
    professional.participation_mode = participation_mode
    professional.level2_only = level2_only
    professional.cpts_level2 = professional.cpts_level2 or level2_only
    professional.max_snp_per_day = max_snp_per_day
    professional.max_snp_per_week = max_snp_per_week
    professional.declares_two_hours = declares_two_hours
    with transaction.atomic():
        professional.save(
            update_fields=[
                "sas_participant",
                "accepts_surnumeraire",
                "participation_mode",
                "level2_only",
                "cpts_level2",
                "max_snp_per_day",
                "max_snp_per_week",
                "declares_two_hours",
            ]
        )
        audit_record(user=actor, action="update", obj=professional, reason="participation")
    return professional


def delegation_create(*, professional: Professional, username: str, actor=None) -> Delegation:
    """Let a secretary (who holds the délégataire role) manage this agenda."""
    delegate = User.objects.filter(username=username.strip(), is_active=True).first()
    if delegate is None or not delegate.memberships.filter(role=Role.DELEGATAIRE).exists():
        raise ApplicationError(
            "Aucun compte de secrétaire (délégataire) avec cet identifiant : "
            "demandez à l'administrateur de le créer.",
            code="unknown_delegate",
        )
    try:
        with transaction.atomic():
            delegation = Delegation.objects.create(professional=professional, delegate=delegate)
            audit_record(user=actor, action="create", obj=professional, reason="délégation")
    except IntegrityError:
        raise ApplicationError(
            "Cette personne gère déjà votre agenda.", code="already_delegated"
        ) from None
    return delegation


def delegation_revoke(*, professional: Professional, delegation_id: int, actor=None) -> None:
    with transaction.atomic():
        deleted, _ = Delegation.objects.filter(professional=professional, pk=delegation_id).delete()
        if not deleted:
            raise ApplicationError("Délégation introuvable.", code="not_found")
        audit_record(user=actor, action="delete", obj=professional, reason="délégation")
