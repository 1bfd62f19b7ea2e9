"""Bookings: a request placed on a slot."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from relais.agenda.models import Slot
from relais.core.models import PublicIdModel
from relais.regulation.models import Request


class BookingStatus(models.TextChoices):
    BOOKED = "booked", "Réservé"
    FULFILLED = "fulfilled", "Vu"
    NOSHOW = "noshow", "Non venu"
    CANCELLED = "cancelled", "Annulé"


# A slot is consumed by any booking that is not cancelled.
ACTIVE_BOOKING_STATUSES = [BookingStatus.BOOKED, BookingStatus.FULFILLED, BookingStatus.NOSHOW]


class BookingChannel(models.TextChoices):
    UI = "ui", "Interface opérateur"
    API = "api", "API"
    FHIR = "fhir", "FHIR"
    PARTNER = "partner", "Logiciel partenaire"


class Booking(PublicIdModel):
    request = models.ForeignKey(Request, on_delete=models.PROTECT, related_name="bookings")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="bookings")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=BookingChannel.choices)
    status = models.CharField(
        max_length=10, choices=BookingStatus.choices, default=BookingStatus.BOOKED
    )
    # Set by API callers to make retries safe; scoped by the caller (user or client).
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    idempotency_owner = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "rendez-vous"
        constraints = [
            # The booking invariant, held by the database itself.
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(status__in=["booked", "fulfilled", "noshow"]),
                name="booking_one_active_per_slot",
            ),
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status="booked"),
                name="booking_one_pending_per_request",
            ),
            models.UniqueConstraint(
                fields=["idempotency_owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="booking_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request} → {self.slot}"
