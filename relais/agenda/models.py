"""SNP slots published by professionals."""

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
    BOOKED = "booked", "Réservé"
    BLOCKED = "blocked", "Fermé"


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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        verbose_name = "créneau"
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="slot_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["professional", "start"],
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
