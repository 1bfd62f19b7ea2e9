"""Users, their roles per territory, and API clients."""

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models

from relais.core.models import PublicIdModel
from relais.territory.models import Cpts, Sas


class User(AbstractUser):
    """A person using Relais. Roles come from memberships, not from Django groups."""

    class Meta:
        verbose_name = "utilisateur"


class Role(models.TextChoices):
    ARM = "arm", "Assistant·e de régulation médicale (ARM)"
    REGULATEUR = "regulateur", "Médecin régulateur"
    OPERATEUR = "operateur", "Opérateur de soins non programmés (OSNP)"
    EFFECTEUR = "effecteur", "Effecteur (professionnel de santé)"
    COORDINATEUR = "coordinateur", "Coordinateur·rice CPTS"
    ADMIN = "admin", "Administrateur"
    DELEGATAIRE = "delegataire", "Secrétaire (délégataire d'agenda)"
    # A pharmacist, nurse or physio who refers patients and follows their own referrals,
    # and nothing else (no agenda, no worklist): least privilege for the referrers.
    ADRESSEUR = "adresseur", "Professionnel adresseur (pharmacien, infirmier, kiné)"


class Membership(models.Model):
    """A role held in a territory: a SAS (département) or one CPTS."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    sas = models.ForeignKey(Sas, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    cpts = models.ForeignKey(
        Cpts, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "sas", "cpts"], name="membership_unique"
            )
        ]

    def __str__(self) -> str:
        where = self.cpts or self.sas or "—"
        return f"{self.user} : {self.get_role_display()} ({where})"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiClient(PublicIdModel):
    """A partner system (booking software, SAS platform, ARS) using the API."""

    name = models.CharField(max_length=100, unique=True)
    token_prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    # Territories the client may act on; empty means all (national platform).
    sas_scope = models.ManyToManyField(Sas, blank=True, related_name="+")
    # Or CPTS only (a CPTS's own software): requests, indicators and slots of those CPTS.
    cpts_scope = models.ManyToManyField(Cpts, blank=True, related_name="+")
    # Mutual TLS (relais.accounts.client_cert): SHA-256 of the client certificate (DER),
    # lowercase hex; the certificate authenticates the client instead of the bearer token.
    cert_fingerprint = models.CharField(max_length=64, unique=True, null=True, blank=True)
    cert_subject = models.CharField(max_length=300, blank=True)
    cert_not_after = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def new_token() -> str:
        return "rls_" + secrets.token_urlsafe(32)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class Invitation(PublicIdModel):
    """An e-mailed, single-use, expiring link to set the password of an invited account.
    Only the token's hash is stored; the role it grants is the membership created with it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField("e-mail")
    role = models.CharField("rôle", max_length=20, choices=Role.choices)
    sas = models.ForeignKey(Sas, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    cpts = models.ForeignKey(
        Cpts, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "invitation"

    def __str__(self) -> str:
        return f"invitation {self.public_id}"


# The second factor is django-otp's TOTPDevice (django_otp.plugins.otp_totp); migrations
# 0004/0005 moved the secrets of the former hand-written TotpDevice into it.
