"""Interoperability state: the outbox of reports to the SAS platform (INT_R03) and the
partner booking systems whose slots Relais gathers."""

from django.db import models
from django.utils import timezone

from relais.core.models import PublicIdModel


class ReportStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    SENT = "sent", "Envoyé"
    FAILED = "failed", "En échec"


class SasReport(models.Model):
    """One Appointment message to the national SAS platform (POST on booking, PUT on
    every status change). Delivered in order per booking by a task, with retries."""

    booking = models.ForeignKey(
        "orientation.Booking", on_delete=models.CASCADE, related_name="sas_reports"
    )
    method = models.CharField(max_length=4)  # POST / PUT
    appointment_status = models.CharField(max_length=20)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "compte rendu au SAS"
        indexes = [models.Index(fields=["status", "created_at"], name="sasreport_status_idx")]

    def __str__(self) -> str:
        return f"{self.method} Appointment {self.appointment_status} ({self.get_status_display()})"


class PartnerBookingMode(models.TextChoices):
    FHIR = "fhir", "Par interface FHIR"
    LINK = "link", "Par lien vers son agenda"


class PartnerSource(models.Model):
    """A booking software implementing the SAS Slot search (INT_R01) and POST Appointment.

    Its free slots are polled into Slot rows (`source` = this name) for the RPPS listed
    here, or, when the list is empty, for every active professional known to Relais."""

    name = models.SlugField("nom", max_length=50, unique=True)
    base_url = models.URLField("URL FHIR de base")
    token = models.CharField("jeton d'accès", max_length=200, blank=True)
    rpps = models.JSONField("RPPS suivis", default=list, blank=True)
    active = models.BooleanField("active", default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # Issue 16 item 9 / issue 17 item 6: managed in the back-office, polled on a schedule.
    # The SAS territory a source serves (its administrators manage it; with no RPPS list,
    # it follows the professionals of that territory). None: a national source set up
    # from the shell, followed for every active professional.
    sas = models.ForeignKey(
        "territory.Sas",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="partner_sources",
        verbose_name="SAS",
    )
    booking_mode = models.CharField(
        "prise de rendez-vous",
        max_length=10,
        choices=PartnerBookingMode.choices,
        default=PartnerBookingMode.FHIR,
    )
    poll_every_minutes = models.PositiveSmallIntegerField(
        "fréquence d'interrogation (minutes)", default=15
    )
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_stats = models.JSONField(default=dict, blank=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_result = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "source partenaire"

    def __str__(self) -> str:
        return self.name


class PartnerLocation(models.Model):
    """The Relais practice standing for one Location of a partner (found by the partner's
    Location id, created from its address the first time): mirrored slots are placed
    there, not at the professional's first practice."""

    source = models.ForeignKey(PartnerSource, on_delete=models.CASCADE, related_name="locations")
    external_id = models.CharField(max_length=100)
    practice = models.ForeignKey(
        "directory.Practice", on_delete=models.CASCADE, related_name="partner_locations"
    )

    class Meta:
        verbose_name = "lieu partenaire"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="partner_location_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.external_id}"


class PartnerSlot(models.Model):
    """What a mirrored slot keeps of the partner's Slot: its own booking link and its
    appointment type (a WALKIN plage is never booked as an exact slot)."""

    slot = models.OneToOneField(
        "agenda.Slot", on_delete=models.CASCADE, related_name="partner_mirror"
    )
    source = models.ForeignKey(PartnerSource, on_delete=models.CASCADE, related_name="slots")
    deep_link = models.URLField(max_length=500, blank=True)
    appointment_type = models.CharField(max_length=20, default="ROUTINE")

    class Meta:
        verbose_name = "créneau partenaire"

    def __str__(self) -> str:
        return f"{self.source} {self.appointment_type}"

    @property
    def walkin(self) -> bool:
        return self.appointment_type == "WALKIN"


class RegulatorAccount(PublicIdModel):
    """A médecin régulateur account managed by the national SAS platform (INT_R02:
    POST/PUT Practitioner). Known by the national id (IDNPS, urn:oid:1.2.250.1.71.4.2.1)
    and/or the SAS technical id (INTRN, urn:oid:1.2.250.1.213.3.6); `active` is the
    platform's habilitation. The user has no usable password: it signs in only through
    the platform's signed deep link (relais.interop.regulators)."""

    user = models.OneToOneField(
        "accounts.User", on_delete=models.CASCADE, related_name="sas_regulator"
    )
    national_id = models.CharField(max_length=30, unique=True, null=True, blank=True)
    technical_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    email = models.EmailField(max_length=200)
    active = models.BooleanField(default=True)
    managed_by = models.CharField(max_length=100)  # the API client (platform) name
    # The IG: at the first connection the regulator accepts the editor's terms of use.
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "compte régulateur SAS"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(national_id__isnull=False)
                | models.Q(technical_id__isnull=False),
                name="regulator_has_an_identifier",
            )
        ]

    def __str__(self) -> str:
        return f"régulateur {self.pk}"


# --- Hub Santé (issue 21): cases received from the SAMU's LRM, appointments reported back


class HubInboundStatus(models.TextChoices):
    INTEGRATED = "integrated", "Intégré (demande créée)"
    RECORDED = "recorded", "Enregistré"
    REFUSED = "refused", "Refusé"
    EXPIRED = "expired", "Expiré"
    MALFORMED = "malformed", "Mal formé"


class HubInbound(models.Model):
    """Every message received from the Hub Santé, kept as received (body) whatever its
    fate: a malformed or refused one is never lost, a duplicated one (same
    distributionID, or the same unreadable body) is counted on its first row."""

    distribution_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    body_sha256 = models.CharField(max_length=64, db_index=True)
    sender_id = models.CharField(max_length=255, blank=True)
    queue = models.CharField(max_length=10)  # message / ack / info
    use_case = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=12, choices=HubInboundStatus.choices)
    error_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_cause = models.CharField(max_length=1000, blank=True)
    body = models.TextField()
    duplicates = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = "message reçu du Hub Santé"
        indexes = [models.Index(fields=["status", "received_at"], name="hubinbound_status_idx")]

    def __str__(self) -> str:
        return f"{self.use_case or '?'} ({self.get_status_display()})"


class HubCase(models.Model):
    """The LRM's case (RS-EDA createCaseHealth) a Relais request was created from: who
    sent it (the LRM its RS-SAS-RDV go back to) and its ids."""

    request = models.OneToOneField(
        "regulation.Request", on_delete=models.CASCADE, related_name="hub_case"
    )
    inbound = models.OneToOneField(HubInbound, on_delete=models.PROTECT, related_name="case")
    sender_id = models.CharField(max_length=255)
    case_id = models.CharField(max_length=255)
    sender_case_id = models.CharField(max_length=255, blank=True)
    patient_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "affaire reçue du Hub Santé"
        constraints = [
            models.UniqueConstraint(fields=["sender_id", "case_id"], name="hubcase_unique")
        ]

    def __str__(self) -> str:
        return f"affaire {self.pk}"


class HubOutbound(models.Model):
    """The outbox to the Hub Santé: RC-REF and RS-ERROR answers, RS-SAS-RDV reports.
    Published by `relais hub_consumer` in order (per booking), retried with backoff."""

    distribution_id = models.CharField(max_length=255, unique=True)
    recipient_id = models.CharField(max_length=255)
    use_case = models.CharField(max_length=40)  # reference / error / appointment
    envelope = models.JSONField()
    booking = models.ForeignKey(
        "orientation.Booking",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="hub_reports",
    )
    case = models.ForeignKey(
        HubCase, on_delete=models.CASCADE, null=True, blank=True, related_name="outbound"
    )
    appointment_status = models.CharField(max_length=20, blank=True)
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)  # the recipient's RC-REF
    refused_code = models.PositiveSmallIntegerField(null=True, blank=True)  # its RS-ERROR

    class Meta:
        ordering = ["pk"]
        verbose_name = "message au Hub Santé"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="huboutbound_due_idx")]

    def __str__(self) -> str:
        return f"{self.use_case} {self.appointment_status} ({self.get_status_display()})"
