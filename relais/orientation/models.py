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


class BookingKind(models.TextChoices):
    SLOT = "slot", "Créneau publié"
    SURNUMERAIRE = "surnumeraire", "Surnuméraire"
    NIVEAU2 = "niveau2", "Niveau 2 CPTS"


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
    # When the outcome (vu / non venu) was first recorded: it may be corrected for
    # OUTCOME_CORRECTION_DAYS from then, then it is locked (orientation.services).
    outcome_recorded_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=15, choices=BookingKind.choices, default=BookingKind.SLOT)
    # A surnuméraire patient may be refused by the doctor until then.
    refusable_until = models.DateTimeField(null=True, blank=True)

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


class Level2Status(models.TextChoices):
    OPEN = "open", "En cours"
    ACCEPTED = "accepted", "Pris en charge"
    EXPIRED = "expired", "Sans réponse"
    CANCELLED = "cancelled", "Annulé"


class Level2Call(PublicIdModel):
    """A niveau-2 call: the anonymised request offered to CPTS volunteers; the
    first to accept gets the patient."""

    request = models.ForeignKey(Request, on_delete=models.PROTECT, related_name="level2_calls")
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=Level2Status.choices, default=Level2Status.OPEN
    )
    radius_km = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)
    widen_at = models.DateTimeField()
    widened = models.BooleanField(default=False)
    deadline = models.DateTimeField()
    accepted_by = models.ForeignKey(
        "directory.Professional", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    booking = models.OneToOneField(
        Booking, on_delete=models.PROTECT, null=True, blank=True, related_name="level2_call"
    )
    closing_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request"], condition=Q(status="open"), name="level2_one_open_per_request"
            )
        ]

    def __str__(self) -> str:
        return f"Niveau 2 {self.request} ({self.status})"


class OfferStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    ACCEPTED = "accepted", "Accepté"
    DECLINED = "declined", "Décliné"
    TOO_LATE = "too_late", "Déjà pris en charge"


class Level2Offer(PublicIdModel):
    call = models.ForeignKey(Level2Call, on_delete=models.CASCADE, related_name="offers")
    professional = models.ForeignKey(
        "directory.Professional", on_delete=models.CASCADE, related_name="level2_offers"
    )
    status = models.CharField(
        max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING
    )
    sent_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["call", "professional"], name="level2_offer_unique")
        ]

    def __str__(self) -> str:
        return f"{self.call} → {self.professional}"
