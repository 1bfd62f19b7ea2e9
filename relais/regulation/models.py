"""Patients, SNP requests and their CISP-2 motifs."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from relais.core.models import PublicIdModel, TimestampedModel
from relais.directory.models import Professional
from relais.territory.models import Commune, Cpts, Sas


class Motif(models.Model):
    """A CISP-2 (ICPC-2) reason for encounter."""

    code = models.CharField("code CISP-2", max_length=5, unique=True)
    label = models.CharField("libellé", max_length=200)
    chapter = models.CharField("chapitre", max_length=100, blank=True)
    refer_to_15 = models.BooleanField("orienter vers le 15", default=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.label}"


class IdentityStatus(models.TextChoices):
    """The INS identity statuses (référentiel national d'identitovigilance)."""

    PROVISOIRE = "provisoire", "Identité provisoire"
    RECUPEREE = "recuperee", "Identité récupérée"
    VALIDEE = "validee", "Identité validée"
    QUALIFIEE = "qualifiee", "Identité qualifiée"


class Sex(models.TextChoices):
    FEMALE = "F", "Féminin"
    MALE = "M", "Masculin"
    UNKNOWN = "I", "Indéterminé"


class Patient(PublicIdModel, TimestampedModel):
    """Minimal identity: what is needed to book, call back and follow up.

    A patient record belongs to the territory (SAS) whose teams created it: only that
    territory matches it, sees it in searches and attaches requests to it. Contact
    details of each call are on the request (callback_phone / callback_email); the
    ones here change only through patient_update_contact (audited)."""

    sas = models.ForeignKey(
        Sas,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="patients",
        verbose_name="territoire (SAS)",
    )
    first_name = models.CharField("prénom", max_length=100)
    last_name = models.CharField("nom", max_length=100)
    birth_date = models.DateField("date de naissance", null=True, blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    email = models.EmailField("e-mail", blank=True)
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="+")
    medecin_traitant = models.ForeignKey(
        Professional,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patients_traitant",
        verbose_name="médecin traitant",
    )

    # Set when the identity was erased after the retention delay (statistics are kept).
    anonymised_at = models.DateTimeField(null=True, blank=True)

    # INS (identité nationale de santé): the strict traits, the INS itself and its status.
    # "qualifiée" needs an INSi check (teleservice), which Relais does not have yet: the
    # database refuses that status without the check's timestamp and the INS.
    birth_name = models.CharField("nom de naissance", max_length=100, blank=True)
    birth_first_names = models.CharField("prénoms de naissance", max_length=200, blank=True)
    sex = models.CharField("sexe", max_length=1, choices=Sex.choices, blank=True)
    birth_place_insee = models.CharField("lieu de naissance (code INSEE)", max_length=5, blank=True)
    ins_nir = models.CharField("matricule INS (NIR/NIA)", max_length=15, blank=True)
    ins_oid = models.CharField("OID de l'INS", max_length=64, blank=True)
    identity_status = models.CharField(
        "statut de l'identité",
        max_length=10,
        choices=IdentityStatus.choices,
        default=IdentityStatus.PROVISOIRE,
    )
    insi_checked_at = models.DateTimeField(
        "vérifiée par le téléservice INSi", null=True, blank=True
    )

    class Meta:
        indexes = [
            models.Index(fields=["last_name", "birth_date"], name="patient_name_birth_idx"),
            models.Index(fields=["sas", "last_name"], name="patient_sas_name_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(identity_status="qualifiee")
                | (
                    models.Q(insi_checked_at__isnull=False)
                    & ~models.Q(ins_nir="")
                    & ~models.Q(ins_oid="")
                ),
                name="patient_qualified_needs_insi",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.last_name.upper()} {self.first_name}"

    @property
    def age(self) -> int | None:
        """Age in whole years today (Paris), or None when the birth date is unknown."""
        if self.birth_date is None:
            return None
        today = timezone.localdate()
        had_birthday = (today.month, today.day) >= (self.birth_date.month, self.birth_date.day)
        return today.year - self.birth_date.year - (0 if had_birthday else 1)


class Channel(models.TextChoices):
    PHONE = "phone", "Téléphone"
    WEB = "web", "Web"
    PROFESSIONAL = "professional", "Professionnel de santé"


class UrgencyBand(models.TextChoices):
    H0_4 = "0-4h", "Sous 4 h"
    H4_8 = "4-8h", "4 à 8 h"
    H8_12 = "8-12h", "8 à 12 h"
    H12_24 = "12-24h", "12 à 24 h"
    H24_48 = "24-48h", "24 à 48 h"

    @property
    def max_hours(self) -> int:
        return int(self.value.split("-")[1].rstrip("h"))


class Priority(models.TextChoices):
    P0 = "P0", "P0 — départ réflexe"
    P1 = "P1", "P1 — urgence vitale"
    P2 = "P2", "P2 — urgence"
    P3 = "P3", "P3 — soin non programmé"


class Track(models.TextChoices):
    AMU = "amu", "Aide médicale urgente"
    MG = "mg", "Médecine générale"


class Decision(models.TextChoices):
    """What the médecin régulateur decides."""

    CONSEIL = "conseil", "Conseil médical"
    TELECONSULTATION = "teleconsultation", "Téléconsultation"
    CONSULTATION = "consultation", "Consultation SNP"
    VISITE = "visite", "Visite à domicile"
    URGENCES = "urgences", "Urgences (SAU)"
    SMUR = "smur", "SMUR / ambulance"
    PDSA = "pdsa", "PDSA / maison médicale de garde"
    PHARMACIE = "pharmacie", "Pharmacie"


class RequestStatus(models.TextChoices):
    TO_REGULATE = "to_regulate", "À réguler"
    OPEN = "open", "À orienter"
    BOOKED = "booked", "Rendez-vous pris"
    DONE = "done", "Patient vu"
    NOSHOW = "noshow", "Non venu"
    ADVICE = "advice", "Conseil médical"
    REDIRECTED = "redirected", "Réorienté 15 / urgences"
    ORIENTED = "oriented", "Orienté ailleurs (PDSA, pharmacie)"
    UNPLACED = "unplaced", "Sans solution"
    CANCELLED = "cancelled", "Annulée"


CLOSED_STATUSES = {
    RequestStatus.DONE,
    RequestStatus.NOSHOW,
    RequestStatus.ADVICE,
    RequestStatus.REDIRECTED,
    RequestStatus.ORIENTED,
    RequestStatus.UNPLACED,
    RequestStatus.CANCELLED,
}


class Request(PublicIdModel, TimestampedModel):
    """A request for unscheduled care, from any channel, tracked to its end."""

    reference = models.CharField("référence", max_length=20, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="requests")
    # The contact given for this call: every message about the request goes there.
    callback_phone = models.CharField("téléphone de rappel", max_length=20, blank=True)
    callback_email = models.EmailField("e-mail de contact", blank=True)
    channel = models.CharField("canal", max_length=20, choices=Channel.choices)
    motif = models.ForeignKey(
        Motif, on_delete=models.PROTECT, null=True, blank=True, related_name="requests"
    )
    motif_text = models.TextField("motif en clair", blank=True)
    urgency = models.CharField(
        "délai", max_length=10, choices=UrgencyBand.choices, default=UrgencyBand.H12_24
    )
    status = models.CharField(
        "statut", max_length=20, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    sas = models.ForeignKey(Sas, on_delete=models.PROTECT, related_name="requests")
    cpts = models.ForeignKey(
        Cpts, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closing_reason = models.CharField("motif de clôture", max_length=300, blank=True)
    # ARM qualification.
    priority = models.CharField("priorité", max_length=2, choices=Priority.choices, blank=True)
    track = models.CharField("filière", max_length=3, choices=Track.choices, blank=True)
    # Médecin régulateur decision: who, when, what.
    decision = models.CharField("décision", max_length=20, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    advice_note = models.TextField("conseil donné", blank=True)
    # Red flags found in the motif: a GP slot cannot be booked until a médecin
    # régulateur lifts the alert with a reason (recorded).
    red_flag = models.BooleanField("signe de gravité", default=False)
    red_flag_reasons = models.CharField(max_length=300, blank=True)
    red_flag_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    red_flag_override_reason = models.CharField(max_length=300, blank=True)
    red_flag_override_at = models.DateTimeField(null=True, blank=True)
    # Ids of the referential's criteria that raised the flag (relais/regulation/data/
    # red_flags.yaml), most severe first: the labels above are for people, these for rules.
    red_flag_criteria = models.JSONField("critères de gravité", default=list, blank=True)
    # Same patient asked for twice (e.g. SAS and CPTS) within 48 h.
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates"
    )
    # The public slot the patient chose before the web form (interop:public_slot): the
    # CPTS calls back and books it if it suits (web channel: no self-booking).
    wanted_slot = models.ForeignKey(
        "agenda.Slot",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wanted_by",
        verbose_name="créneau choisi par le patient",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "demande"
        indexes = [
            models.Index(fields=["sas", "status", "created_at"], name="request_sas_status_idx"),
            models.Index(fields=["cpts", "created_at"], name="request_cpts_created_idx"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status == RequestStatus.OPEN

    @property
    def red_flag_blocks_booking(self) -> bool:
        return self.red_flag and self.red_flag_override_at is None


class RequestEvent(models.Model):
    """The timeline of a request: every transition, who, when, why."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.from_status or '∅'} → {self.to_status}"


class RedFlagAnswer(models.Model):
    """The answer to one confirming question of a red-flag criterion, asked at intake
    (ARM/OSNP on the phone, a referring professional, the patient on the web form)."""

    class Answer(models.TextChoices):
        YES = "yes", "Oui"
        NO = "no", "Non"
        UNKNOWN = "unknown", "Ne sait pas"

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="red_flag_answers")
    criterion_id = models.CharField("critère", max_length=60)
    question_id = models.CharField("question", max_length=80)
    answer = models.CharField("réponse", max_length=10, choices=Answer.choices)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "question_id"], name="red_flag_answer_once_per_question"
            )
        ]
        indexes = [models.Index(fields=["criterion_id", "answer"], name="red_flag_answer_crit_idx")]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.question_id} = {self.answer}"
