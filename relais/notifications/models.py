"""The outbox: every message is a row written in the transaction that decided it.

Also the two rows the task system needs to survive crashes: one heartbeat per worker
process (`relais run_worker`) and one "next run" row per periodic job (the sweep), so that
several workers run it exactly once per interval."""

from django.db import models
from django.db.models import Q

from relais.core.models import PublicIdModel


class NotificationChannel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "À envoyer"
    SENDING = "sending", "Envoi en cours"
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
    # The territory the message belongs to (from its request): whose coordinators and
    # administrators see it when it fails for good.
    sas = models.ForeignKey(
        "territory.Sas", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cpts = models.ForeignKey(
        "territory.Cpts", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the conditional pending -> sending claim; a row left "sending" past the lease
    # belongs to a worker that died between claim and result (see notification_deliver).
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="notification_status_idx"),
            models.Index(fields=["status", "sas", "cpts"], name="notification_territory_idx"),
        ]
        constraints = [
            # A reminder task run twice (reclaimed after a crash) writes its message once.
            models.UniqueConstraint(
                fields=["booking", "kind", "channel"],
                condition=Q(kind__startswith="reminder_"),
                name="notification_one_reminder_per_booking",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.channel})"


class WorkerHeartbeat(models.Model):
    """One row per `relais run_worker` process, touched every few seconds."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.worker_id


class PeriodicJob(models.Model):
    """The next due time of a periodic job; a worker runs it only if its conditional
    UPDATE moved `next_run_at` forward (one winner per interval, any database)."""

    name = models.CharField(max_length=50, unique=True)
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_worker_id = models.CharField(max_length=64, blank=True)
    last_result = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name
