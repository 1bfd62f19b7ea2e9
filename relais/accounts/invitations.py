"""People and roles by invitation (docs/administration.md).

An administrator or coordinator invites a person to a role in their territory: the
account is created without a usable password, the membership is granted, and an e-mail
goes through the outbox (the worker sends it; a rollback drops it) with a single-use
link valid RELAIS_INVITATION_DAYS days. Opening it, the person chooses a password; the
roles that require a second factor then enrol their authenticator app (relais.accounts
views). Only the token's hash is stored."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from relais.accounts.backoffice import CPTS_ROLES, SAS_ROLES, managed_for
from relais.accounts.models import Invitation, Membership, Role, User
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError


def _days() -> int:
    return int(getattr(settings, "RELAIS_INVITATION_DAYS", 7))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_territory_check(*, actor, role: str, sas=None, cpts=None) -> None:
    """The role exists, is held where it belongs (SAS roles in a SAS, CPTS roles in a
    CPTS) and the actor manages that territory and may grant that role. `actor=None` is
    a command run by the operator of the server (relais import_professionals)."""
    if role not in Role.values:
        raise ApplicationError("Rôle inconnu.", code="invalid_role")
    if role in SAS_ROLES and (sas is None or cpts is not None):
        raise ApplicationError(
            "Ce rôle s'exerce dans un SAS : choisissez le SAS.", code="invalid_territory"
        )
    if role in CPTS_ROLES and (cpts is None or sas is not None):
        raise ApplicationError(
            "Ce rôle s'exerce dans une CPTS : choisissez la CPTS.", code="invalid_territory"
        )
    if actor is None:
        return
    managed = managed_for(actor)
    if role not in managed.grantable_roles():
        raise ApplicationError("Votre rôle ne permet pas d'attribuer ce rôle.", code="forbidden")
    if (sas is not None and sas.pk not in managed.sas_ids) or (
        cpts is not None and cpts.pk not in managed.cpts_ids
    ):
        raise ApplicationError("Ce territoire n'est pas le vôtre.", code="forbidden")


def _link(token: str) -> str:
    return settings.SITE_URL + reverse("accounts:invitation_accept", args=[token])


def _send(invitation: Invitation, token: str, *, inviter_name: str) -> None:
    from relais.notifications.services import notifications_create

    where = invitation.cpts or invitation.sas
    body = (
        "Bonjour,\n\n"
        f"{inviter_name} vous invite à utiliser Relais ({where}) en tant que "
        f"« {invitation.get_role_display()} ».\n\n"
        f"Pour activer votre compte, choisissez votre mot de passe avec ce lien, valable "
        f"{_days()} jours et utilisable une seule fois :\n\n{_link(token)}\n\n"
        f"Votre identifiant : {invitation.user.get_username()}\n\n"
        "Si vous ne connaissez pas cette personne ou cet organisme, ignorez ce message.\n"
    )
    notifications_create(
        [
            {
                "kind": "invitation",
                "channel": "email",
                "recipient": invitation.email,
                "subject": "Relais : activez votre compte",
                "body": body,
                "sas_id": invitation.sas_id
                or (invitation.cpts.sas_id if invitation.cpts else None),
                "cpts_id": invitation.cpts_id,
            }
        ]
    )


@transaction.atomic
def invitation_create(
    *,
    actor,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    sas=None,
    cpts=None,
    professional=None,
) -> tuple[User, Invitation | None]:
    """Invite a person to a role. A person who already has an active account gets the
    role added and no new link (they log in as before); anyone else gets the e-mail."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError("Adresse e-mail invalide.", code="invalid_email") from None
    role_territory_check(actor=actor, role=role, sas=sas, cpts=cpts)
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is None:
        username = email
        if User.objects.filter(username=username).exists():
            username = f"{email}-{secrets.token_hex(2)}"
        user = User(
            username=username,
            email=email,
            first_name=first_name.strip()[:150],
            last_name=last_name.strip()[:150],
        )
        user.set_unusable_password()
        user.save()
        audit_record(
            user=actor, action="create", obj=user, object_id=str(user.pk), reason="compte invité"
        )
    Membership.objects.get_or_create(user=user, role=role, sas=sas, cpts=cpts)
    audit_record(
        user=actor,
        action="update",
        obj=user,
        object_id=str(user.pk),
        reason=f"rôle attribué : {role} ({cpts or sas})",
    )
    if professional is not None and professional.user_id is None:
        professional.user = user
        professional.save(update_fields=["user"])
    if user.has_usable_password() and user.is_active:
        return user, None
    now = timezone.now()
    Invitation.objects.filter(user=user, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        user=user,
        email=email,
        role=role,
        sas=sas,
        cpts=cpts,
        invited_by=actor,
        token_hash=_hash(token),
        expires_at=now + timedelta(days=_days()),
    )
    if not user.is_active:
        User.objects.filter(pk=user.pk).update(is_active=True)
    inviter = (actor.get_full_name() or actor.get_username()) if actor else "Votre CPTS"
    _send(invitation, token, inviter_name=inviter)
    audit_record(user=actor, action="create", obj=invitation, reason=f"invitation envoyée ({role})")
    return user, invitation


INVALID_LINK = (
    "Lien d'invitation invalide, déjà utilisé ou expiré : demandez une nouvelle invitation."
)


def invitation_for_token(*, token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("user")
        .filter(token_hash=_hash(token or ""), accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or invitation.expires_at <= timezone.now():
        raise ApplicationError(INVALID_LINK, code="invitation_invalid")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, password: str) -> User:
    """Set the password of the invited account; the link then stops working (a
    conditional UPDATE: of two tabs posting at once, one wins)."""
    invitation = invitation_for_token(token=token)
    user = invitation.user
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), code="weak_password") from None
    claimed = Invitation.objects.filter(
        pk=invitation.pk,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).update(accepted_at=timezone.now())
    if not claimed:
        raise ApplicationError(INVALID_LINK, code="invitation_invalid")
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(user=user, action="update", obj=invitation, reason="invitation acceptée")
    return user


@transaction.atomic
def user_set_active(*, actor, user: User, active: bool) -> None:
    """Deactivate (or reactivate) an account: it can no longer log in; its pending
    invitations are revoked. Nobody deactivates themselves."""
    if actor is not None and actor.pk == user.pk:
        raise ApplicationError("Vous ne pouvez pas désactiver votre propre compte.")
    User.objects.filter(pk=user.pk).update(is_active=active)
    if not active:
        Invitation.objects.filter(user=user, accepted_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    audit_record(
        user=actor,
        action="update",
        obj=user,
        object_id=str(user.pk),
        reason="compte réactivé" if active else "compte désactivé",
    )


@transaction.atomic
def membership_remove(*, actor, membership: Membership) -> None:
    role_territory_check(
        actor=actor, role=membership.role, sas=membership.sas, cpts=membership.cpts
    )
    user = membership.user
    membership.delete()
    audit_record(
        user=actor,
        action="update",
        obj=user,
        object_id=str(user.pk),
        reason=f"rôle retiré : {membership.role} ({membership.cpts or membership.sas})",
    )
