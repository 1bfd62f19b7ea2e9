"""SNP slots published by professionals."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from relais.core.models import PublicIdModel
from relais.directory.models import Practice, Professional


class Modality(models.TextChoices):
    CABINET = "cabinet", "Cabinet"
    TELECONSULTATION = "teleconsultation", "Téléconsultation"
    VISITE = "visite", "Visite à domicile"


class SlotStatus(models.TextChoices):
    FREE = "free", "Libre"
    HELD = "held", "Retenu"
    BOOKED = "booked", "Réservé"
    BLOCKED = "blocked", "Fermé"


class Channel(models.TextChoices):
    """Where a slot may be offered. A slot is offered only on the channels its
    professional allowed (doctors' first complaint about the national platform)."""

    SAS = "sas", "SAS (niveau 1)"
    CPTS = "cpts", "CPTS (niveau 2)"
    PUBLIC = "public", "Prise de rendez-vous en ligne"
    PARTNER = "partner", "Logiciels partenaires"


class Slot(PublicIdModel):
    professional = models.ForeignKey(Professional, on_delete=models.CASCADE, related_name="slots")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="slots")
    start = models.DateTimeField("début")
    end = models.DateTimeField("fin")
    modality = models.CharField(
        "modalité", max_length=20, choices=Modality.choices, default=Modality.CABINET
    )
    # The status is only ever changed by atomic conditional updates in the
    # orientation services (free -> booked), never by read-modify-write.
    status = models.CharField(
        "statut", max_length=10, choices=SlotStatus.choices, default=SlotStatus.FREE
    )
    # A hold keeps the slot for one operator while the patient agrees; it lapses by
    # itself at `held_until` (every taker checks it in its conditional update).
    held_until = models.DateTimeField(null=True, blank=True)
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Channels allowed by the professional (see Channel).
    for_sas = models.BooleanField("visible SAS", default=True)
    for_cpts = models.BooleanField("visible CPTS", default=True)
    for_public = models.BooleanField("visible en ligne", default=False)
    for_partners = models.BooleanField("visible logiciels partenaires", default=False)
    # A plage ("range with at most N patients") is stored as N rows sharing start and
    # end, one per place: each row is booked at most once, like any slot.
    is_plage = models.BooleanField("plage", default=False)
    place = models.PositiveSmallIntegerField("place", default=0)
    pdsa = models.BooleanField("en horaires de PDSA", default=False)
    # Slots gathered from a partner's booking software (interop): its name and id.
    source = models.CharField("source", max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        verbose_name = "créneau"
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="slot_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["professional", "start", "place"],
                condition=~Q(status="blocked"),
                name="slot_unique_professional_start",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "start"], name="slot_status_start_idx"),
            models.Index(fields=["professional", "start"], name="slot_professional_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.professional} {self.start:%Y-%m-%d %H:%M}"
