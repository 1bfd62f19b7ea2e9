"""The outbox: every message is a row written in the transaction that decided it."""

from django.db import models

from relais.core.models import PublicIdModel


class NotificationChannel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "À envoyer"
    SENT = "sent", "Envoyé"
    FAILED = "failed", "Échec"


class Notification(PublicIdModel):
    kind = models.CharField(max_length=50)
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    recipient = models.CharField(max_length=200)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    booking = models.ForeignKey(
        "orientation.Booking",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="notification_status_idx")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.channel})"
