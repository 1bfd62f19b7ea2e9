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


class AvailabilityRule(PublicIdModel):
    """A weekly recurring availability ("Tuesday and Thursday 17h-19h, 20-minute slots").

    Expanded into `Slot` rows over a rolling horizon by `services.slots_materialise`
    (through the Django-free `recurrence` engine). Times are Paris wall-clock times.
    """

    professional = models.ForeignKey(
        Professional, on_delete=models.CASCADE, related_name="availability_rules"
    )
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    # 0 = Monday ... 6 = Sunday, sorted.
    weekdays = models.JSONField("jours", default=list)
    start_time = models.TimeField("début")
    # time(0) means midnight at the end of the day (24:00), as in `recurrence`.
    end_time = models.TimeField("fin")
    # Exact slots of this length, or None for a plage of `capacity` patients.
    slot_minutes = models.PositiveSmallIntegerField("durée d'un créneau", null=True, blank=True)
    capacity = models.PositiveSmallIntegerField("patients", default=1)
    modality = models.CharField(
        "modalité", max_length=20, choices=Modality.choices, default=Modality.CABINET
    )
    for_sas = models.BooleanField("visible SAS", default=True)
    for_cpts = models.BooleanField("visible CPTS", default=True)
    for_public = models.BooleanField("visible en ligne", default=False)
    for_partners = models.BooleanField("visible logiciels partenaires", default=False)
    # Empty means every motif.
    motifs = models.ManyToManyField(
        "regulation.Motif", blank=True, related_name="+", verbose_name="motifs acceptés"
    )
    age_min = models.PositiveSmallIntegerField("âge minimum", null=True, blank=True)
    age_max = models.PositiveSmallIntegerField("âge maximum", null=True, blank=True)
    valid_from = models.DateField("à partir du", null=True, blank=True)
    valid_until = models.DateField("jusqu'au", null=True, blank=True)
    skip_public_holidays = models.BooleanField("sauf jours fériés", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = "règle de disponibilité"

    def __str__(self) -> str:
        return f"{self.professional} {self.weekdays} {self.start_time:%H:%M}"


class ExceptionKind(models.TextChoices):
    VACATION = "vacation", "Congés"
    CLOSURE = "closure", "Fermeture ponctuelle"


class AvailabilityException(PublicIdModel):
    """A period without SNP availability (vacation, one-off closure): [start, end)."""

    professional = models.ForeignKey(
        Professional, on_delete=models.CASCADE, related_name="availability_exceptions"
    )
    kind = models.CharField(
        "type", max_length=10, choices=ExceptionKind.choices, default=ExceptionKind.VACATION
    )
    start = models.DateTimeField("début")
    end = models.DateTimeField("fin")
    label = models.CharField("libellé", max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        verbose_name = "absence"
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="exception_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.professional} {self.start:%Y-%m-%d}"


class CalendarFeed(models.Model):
    """The private iCal URL of one professional; only the token's hash is stored."""

    professional = models.OneToOneField(
        Professional, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"iCal {self.professional}"


# `Slot.source` of slots Relais itself holds: none (a rule's), the one-off form's and an
# .ics import's. Any other source names the partner software a slot is mirrored from.
LOCAL_SOURCES = ("", "relais", "ics")


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
    # The rule that produced the slot (None: one-off, imported or partner slot).
    rule = models.ForeignKey(
        AvailabilityRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="slots"
    )
    # Copied from the rule so that search can filter on them; motifs stay on the rule.
    age_min = models.PositiveSmallIntegerField("âge minimum", null=True, blank=True)
    age_max = models.PositiveSmallIntegerField("âge maximum", null=True, blank=True)
    # Slots gathered from a partner's booking software (interop): its name and id.
    source = models.CharField("source", max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # The practice's coordinates, copied by the database (triggers of migration 0005, on
    # every insert or update of a slot and when a practice moves), never by Python: the
    # ranked search filters a dense area's slots on them inside its time index, without
    # joining every slot of the window to its practice (docs/benchmarks.md).
    latitude = models.FloatField(null=True, blank=True, editable=False)
    longitude = models.FloatField(null=True, blank=True, editable=False)

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
            # Ranked search (docs/benchmarks.md): slots still takeable, by practice then time
            # (sparse areas) and by time, the box checked in the index (dense areas).
            models.Index(
                fields=["practice", "start"],
                condition=Q(status__in=["free", "held"]),
                name="slot_open_practice_start_idx",
            ),
            models.Index(
                fields=["start", "latitude", "longitude"],
                condition=Q(status__in=["free", "held"]),
                name="slot_open_start_place_idx",
            ),
            # ... and by place then time, when the box holds a small share of the window
            # (an overseas département, a mid-density area): the planner picks.
            models.Index(
                fields=["latitude", "longitude", "start"],
                condition=Q(status__in=["free", "held"]),
                name="slot_open_place_start_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.professional} {self.start:%Y-%m-%d %H:%M}"

    @property
    def is_partner_mirror(self) -> bool:
        """Mirrored from a partner's booking software (booked only once it confirms)."""
        return self.source not in LOCAL_SOURCES
