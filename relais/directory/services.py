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


# --- back-office (docs/administration.md): professionals, practices, join requests --------

PROFESSION_FIELDS = (
    "rpps", "adeli", "profession", "specialty", "first_name", "last_name", "phone", "email",
    "sas_participant", "cpts_level2", "accepts_surnumeraire",
)  # fmt: skip


def professional_check(*, data: dict, current: Professional | None = None) -> list[str]:
    """French reasons a professional's identity is refused (RPPS and ADELI keys, names,
    profession, an RPPS already used by someone else)."""
    from relais.directory.identifiers import adeli_error, rpps_error
    from relais.directory.models import Profession

    errors = []
    rpps = data.get("rpps", "")
    # A stored RPPS is kept as it is; a new or changed one is checked (key, uniqueness).
    if current is None or rpps != current.rpps:
        if e := rpps_error(rpps):
            errors.append(e)
        elif Professional.objects.filter(rpps=rpps).exists():
            errors.append(f"Le RPPS {rpps} est déjà celui d'un professionnel de l'annuaire.")
    if data.get("adeli") and (e := adeli_error(data["adeli"])):
        errors.append(e)
    if data.get("profession") not in Profession.values:
        errors.append("Profession inconnue.")
    if not (data.get("first_name") or "").strip() or not (data.get("last_name") or "").strip():
        errors.append("Le nom et le prénom sont obligatoires.")
    return errors


@transaction.atomic
def professional_save(
    *, actor, managed, data: dict, main_cpts, other_cpts: list, professional=None
) -> Professional:
    """Create or edit a professional of the manager's territory. A coordinator sets only
    their own CPTS: memberships of CPTS they do not manage are kept untouched."""
    errors = professional_check(data=data, current=professional)
    if main_cpts is not None and main_cpts.pk not in managed.cpts_ids:
        errors.append("Cette CPTS n'est pas la vôtre.")
    if any(c.pk not in managed.cpts_ids for c in other_cpts):
        errors.append("Une des CPTS choisies n'est pas la vôtre.")
    if errors:
        raise ApplicationError(" ".join(errors), code="invalid_professional")
    created = professional is None
    if created:
        professional = Professional(**{f: data[f] for f in PROFESSION_FIELDS}, cpts=main_cpts)
        professional.save()
    else:
        for f in PROFESSION_FIELDS:
            setattr(professional, f, data[f])
        fields = list(PROFESSION_FIELDS)
        # The main CPTS changes only between CPTS the manager manages (or from none).
        if professional.cpts_id is None or professional.cpts_id in managed.cpts_ids:
            professional.cpts = main_cpts
            fields.append("cpts")
        professional.save(update_fields=fields)
    keep = [pk for pk in professional.other_cpts.values_list("pk", flat=True)]
    keep = [pk for pk in keep if pk not in managed.cpts_ids]
    wanted = keep + [c.pk for c in other_cpts if c.pk != professional.cpts_id]
    professional.other_cpts.set(wanted)
    audit_record(
        user=actor, action="create" if created else "update", obj=professional,
        reason="annuaire : fiche créée" if created else "annuaire : fiche modifiée",
    )  # fmt: skip
    return professional


@transaction.atomic
def professional_set_active(*, actor, professional: Professional, active: bool) -> None:
    """Deactivate: out of searches, niveau 2 and the médecin traitant list; the history
    stays. The account (if any) is deactivated separately (people pages)."""
    Professional.objects.filter(pk=professional.pk).update(active=active)
    audit_record(
        user=actor, action="update", obj=professional,
        reason="annuaire : réactivé" if active else "annuaire : désactivé",
    )  # fmt: skip


def _check_coordinates(latitude, longitude, commune) -> tuple[float, float]:
    if latitude is None or longitude is None:
        if not commune.has_point:
            raise ApplicationError(
                "Cette commune n'a pas de coordonnées : indiquez la latitude et la longitude.",
                code="invalid_practice",
            )
        return commune.latitude, commune.longitude
    if not (41 <= latitude <= 51.5 and -5.5 <= longitude <= 10):
        # Outside metropolitan France: only overseas communes may be far away.
        if commune.has_point and (
            abs(latitude - commune.latitude) > 1 or abs(longitude - commune.longitude) > 1
        ):
            raise ApplicationError(
                "Coordonnées trop loin de la commune (plus de 1°).", code="invalid_practice"
            )
    elif commune.has_point and (
        abs(latitude - commune.latitude) > 0.5 or abs(longitude - commune.longitude) > 0.5
    ):
        raise ApplicationError(
            "Coordonnées trop loin de la commune choisie (plus de 0,5°) : vérifiez-les.",
            code="invalid_practice",
        )
    return latitude, longitude


@transaction.atomic
def practice_save(
    *, actor, allowed_departements: set[str], name: str, address: str, postal_code: str,
    city: str, phone: str = "", latitude=None, longitude=None, professionals=(),
    practice=None, opening_hours: dict | None = None,
):  # fmt: skip
    """Create or edit a place of consultation. The address resolves to its INSEE commune
    by postal code and town name (the national communes of relais.territory); the
    coordinates are the commune's centroid unless given (no geocoding service is reachable:
    the manager may move the point)."""
    from relais.directory.models import Practice
    from relais.territory.selectors import commune_for_address

    commune, reason = commune_for_address(postal_code=postal_code, city=city)
    if commune is None:
        raise ApplicationError(reason, code="unknown_commune")
    if commune.departement.code not in allowed_departements:
        raise ApplicationError(
            f"{commune.name} n'est pas dans votre territoire.", code="outside_territory"
        )
    if not name.strip() or not address.strip():
        raise ApplicationError("Le nom et l'adresse sont obligatoires.", code="invalid_practice")
    moved = practice is None or practice.commune_id != commune.pk
    if latitude is None and not moved:
        latitude, longitude = practice.latitude, practice.longitude
    latitude, longitude = _check_coordinates(latitude, longitude, commune)
    created = practice is None
    practice = practice or Practice()
    practice.name, practice.address, practice.phone = name.strip(), address.strip(), phone.strip()
    practice.commune, practice.latitude, practice.longitude = commune, latitude, longitude
    if opening_hours is not None:  # None: unchanged; {}: the default hours
        practice.opening_hours = opening_hours
    practice.save()
    if professionals is not None:
        practice.professionals.set(professionals)
    audit_record(
        user=actor, action="create" if created else "update", obj=practice,
        reason="lieu d'exercice créé" if created else "lieu d'exercice modifié",
    )  # fmt: skip
    return practice


def join_request_submit(*, cpts, data: dict):
    """A professional asks to join the CPTS (public page, rate-limited by the view). One
    pending request per RPPS and CPTS: a second one answers the same."""
    from relais.directory.identifiers import clean
    from relais.directory.models import JoinRequest

    data = {**data, "rpps": clean(data.get("rpps", ""))}
    errors = professional_check(data={**data, "adeli": ""}, current=_placeholder(data["rpps"]))
    if errors:
        raise ApplicationError(" ".join(errors), code="invalid_join_request")
    try:
        with transaction.atomic():
            join = JoinRequest.objects.create(cpts=cpts, **data)
            audit_record(public_form="demande d'adhésion", action="create", obj=join,
                         reason="demande d'adhésion")  # fmt: skip
    except IntegrityError:
        join = JoinRequest.objects.filter(cpts=cpts, rpps=data["rpps"], status="pending").first()
    return join


def _placeholder(rpps: str):
    """An RPPS already in the directory may ask to join another CPTS: its key is checked,
    not its uniqueness (professional_check skips the uniqueness of the current RPPS)."""
    from relais.directory.identifiers import rpps_error

    existing = Professional.objects.filter(rpps=rpps).first()
    if existing is not None and not rpps_error(rpps):
        return existing
    return None


@transaction.atomic
def join_request_decide(*, actor, managed, join_request, accept: bool) -> Professional | None:
    """The coordinator accepts (the professional joins the CPTS, an account is invited as
    effecteur) or refuses. A request decided already is refused (conditional UPDATE)."""
    from django.utils import timezone

    from relais.accounts.invitations import invitation_create
    from relais.accounts.models import Role
    from relais.directory.models import JoinRequest

    if join_request.cpts_id not in managed.cpts_ids:
        raise ApplicationError("Cette CPTS n'est pas la vôtre.", code="forbidden")
    status = "accepted" if accept else "refused"
    if not JoinRequest.objects.filter(pk=join_request.pk, status="pending").update(
        status=status, decided_at=timezone.now(), decided_by=actor
    ):
        raise ApplicationError("Cette demande a déjà été traitée.", code="already_decided")
    audit_record(user=actor, action="update", obj=join_request, reason=f"adhésion {status}")
    if not accept:
        return None
    cpts = join_request.cpts
    professional = Professional.objects.filter(rpps=join_request.rpps).first()
    if professional is None:
        professional = Professional.objects.create(
            rpps=join_request.rpps, profession=join_request.profession,
            first_name=join_request.first_name, last_name=join_request.last_name,
            phone=join_request.phone, email=join_request.email, cpts=cpts,
            specialty="SM54" if join_request.profession == "medecin" else "",
        )  # fmt: skip
        audit_record(user=actor, action="create", obj=professional, reason="adhésion acceptée")
    elif professional.cpts_id is None:
        professional.cpts = cpts
        professional.save(update_fields=["cpts"])
    elif professional.cpts_id != cpts.pk:
        professional.other_cpts.add(cpts)
    if (
        professional.user_id is None
        or not professional.user.memberships.filter(role=Role.EFFECTEUR, cpts=cpts).exists()
    ):
        invitation_create(
            actor=actor, email=join_request.email, first_name=join_request.first_name,
            last_name=join_request.last_name, role=Role.EFFECTEUR, cpts=cpts,
            professional=professional,
        )  # fmt: skip
    return professional
