"""Professionals (effecteurs), their practices and their participation."""

from django.conf import settings
from django.db import models

from relais.core.models import PublicIdModel
from relais.territory.models import Commune, Cpts


class Profession(models.TextChoices):
    MEDECIN = "medecin", "Médecin"
    INFIRMIER = "infirmier", "Infirmier·e"
    KINE = "kine", "Masseur-kinésithérapeute"
    PHARMACIEN = "pharmacien", "Pharmacien·ne"
    SAGE_FEMME = "sage_femme", "Sage-femme"
    DENTISTE = "dentiste", "Chirurgien-dentiste"


class ParticipationMode(models.TextChoices):
    """How a professional takes part in SNP care (as the national SAS platform records it)."""

    CABINET = "cabinet", "Mon cabinet"
    CPTS = "cpts", "Via la CPTS"
    MSP = "msp", "Via la maison de santé (MSP)"
    SOS = "sos", "Via SOS Médecins"


class Professional(PublicIdModel):
    rpps = models.CharField("RPPS", max_length=11, unique=True)
    adeli = models.CharField("ADELI", max_length=9, blank=True, default="")
    profession = models.CharField("profession", max_length=20, choices=Profession.choices)
    # TRE_R38 specialty code: SM54 = médecine générale.
    specialty = models.CharField("spécialité", max_length=10, blank=True, default="")
    first_name = models.CharField("prénom", max_length=100)
    last_name = models.CharField("nom", max_length=100)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    email = models.EmailField("e-mail", blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="professional",
    )
    cpts = models.ForeignKey(
        Cpts, on_delete=models.SET_NULL, null=True, blank=True, related_name="professionals"
    )
    # Further CPTS the professional belongs to (the CPTS above is the main one; a GP near
    # a border may take part in two). Every CPTS the professional belongs to sees the
    # CPTS-typed slots: see Professional.cpts_ids().
    other_cpts = models.ManyToManyField(
        Cpts, blank=True, related_name="associated_professionals", verbose_name="autres CPTS"
    )
    # Participation, as the national SAS platform records it.
    sas_participant = models.BooleanField(
        "participe au SAS (niveau 1)",
        default=False,
        help_text="Implique d'accepter des patients en surnuméraire.",
    )
    cpts_level2 = models.BooleanField("volontaire niveau 2 de la CPTS", default=False)
    level2_only = models.BooleanField("niveau 2 uniquement", default=False)
    accepts_surnumeraire = models.BooleanField(
        "accepte des patients en surnuméraire", default=False
    )
    participation_mode = models.CharField(
        "participation",
        max_length=10,
        choices=ParticipationMode.choices,
        default=ParticipationMode.CABINET,
    )
    # Caps the professional sets on SNP patients; None means no cap.
    max_snp_per_day = models.PositiveSmallIntegerField(
        "patients SNP au plus par jour", null=True, blank=True
    )
    max_snp_per_week = models.PositiveSmallIntegerField(
        "patients SNP au plus par semaine", null=True, blank=True
    )
    declares_two_hours = models.BooleanField(
        "déclare au moins 2 h par semaine pour le SAS", default=False
    )
    active = models.BooleanField("actif", default=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name = "professionnel"
        # INT_R01 batches may name professionals by ADELI (0-prefixed): without it, a scan.
        indexes = [
            models.Index(
                fields=["adeli"], name="professional_adeli_idx", condition=~models.Q(adeli="")
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    def cpts_ids(self) -> list[int]:
        """Every CPTS this professional belongs to, the main one first."""
        ids = [self.cpts_id] if self.cpts_id else []
        ids += [pk for pk in self.other_cpts.values_list("pk", flat=True) if pk not in ids]
        return ids

    @property
    def display_name(self) -> str:
        title = "Dr " if self.profession in {Profession.MEDECIN, Profession.DENTISTE} else ""
        return f"{title}{self.first_name} {self.last_name}"


class Practice(PublicIdModel):
    """A place of consultation (cabinet, maison de santé, centre de santé)."""

    name = models.CharField("nom", max_length=150)
    address = models.CharField("adresse", max_length=200)
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="practices")
    latitude = models.FloatField()
    longitude = models.FloatField()
    phone = models.CharField("téléphone", max_length=20, blank=True)
    professionals = models.ManyToManyField(Professional, related_name="practices", blank=True)
    # Opening hours, in the shape of Cpts.service_hours (relais/territory/service_hours.py):
    # {"1": [["08:00", "12:00"], ["14:00", "18:00"]], "closed": ["2026-12-24"]}; empty =
    # the RELAIS_PRACTICE_HOURS default (relais/orientation/surnumeraire.py).
    opening_hours = models.JSONField("horaires d'ouverture", default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "lieu d'exercice"
        verbose_name_plural = "lieux d'exercice"
        indexes = [models.Index(fields=["latitude", "longitude"], name="practice_latlon_idx")]

    def __str__(self) -> str:
        return f"{self.name}, {self.commune.name}"


class Delegation(models.Model):
    """A professional lets a secretary (role délégataire) manage their SNP agenda."""

    professional = models.ForeignKey(
        Professional, on_delete=models.CASCADE, related_name="delegations"
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "délégation d'agenda"
        constraints = [
            models.UniqueConstraint(fields=["professional", "delegate"], name="delegation_unique")
        ]

    def __str__(self) -> str:
        return f"{self.delegate} → {self.professional}"


class JoinRequestStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    ACCEPTED = "accepted", "Acceptée"
    REFUSED = "refused", "Refusée"


class JoinRequest(PublicIdModel):
    """A professional asks to join a CPTS (self-registration with their RPPS); the CPTS's
    coordinator (or the SAS administrator) accepts or refuses it."""

    cpts = models.ForeignKey(Cpts, on_delete=models.CASCADE, related_name="join_requests")
    rpps = models.CharField("RPPS", max_length=11)
    profession = models.CharField("profession", max_length=20, choices=Profession.choices)
    first_name = models.CharField("prénom", max_length=100)
    last_name = models.CharField("nom", max_length=100)
    email = models.EmailField("e-mail")
    phone = models.CharField("téléphone", max_length=20, blank=True)
    commune = models.ForeignKey(
        Commune, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    message = models.CharField("message", max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=JoinRequestStatus.choices, default=JoinRequestStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "demande d'adhésion"
        constraints = [
            # One pending request per professional and CPTS: a second click adds nothing.
            models.UniqueConstraint(
                fields=["cpts", "rpps"],
                condition=models.Q(status="pending"),
                name="joinrequest_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"adhésion {self.public_id}"


class ImportBatch(PublicIdModel):
    """An uploaded CSV of professionals, kept between the preview and the confirmation
    (the confirmation re-reads this very content: what was previewed is what is written)."""

    cpts = models.ForeignKey(Cpts, on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    filename = models.CharField(max_length=200, blank=True)
    content = models.TextField()
    send_invitations = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.public_id}"
