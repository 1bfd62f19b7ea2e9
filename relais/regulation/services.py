"""Writes for regulation: patients, requests and their lifecycle."""

import csv
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from relais.accounts.permissions import Scope
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError, PermissionDenied
from relais.directory.models import Professional
from relais.regulation.models import (
    CLOSED_STATUSES,
    Channel,
    Decision,
    Motif,
    Patient,
    Priority,
    Request,
    RequestEvent,
    RequestStatus,
    Track,
    UrgencyBand,
)
from relais.territory.models import Commune
from relais.territory.selectors import cpts_for_commune

MOTIFS_FILE = Path(__file__).resolve().parent / "data" / "motifs-cisp2.csv"
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone

# Allowed transitions of a request. Anything else is refused with a clear message.
TRANSITIONS: dict[str, set[str]] = {
    RequestStatus.TO_REGULATE: {
        RequestStatus.OPEN,
        RequestStatus.ADVICE,
        RequestStatus.REDIRECTED,
        RequestStatus.ORIENTED,
        RequestStatus.CANCELLED,
    },
    RequestStatus.OPEN: {
        RequestStatus.TO_REGULATE,  # the operator asks for the regulator's opinion
        RequestStatus.BOOKED,
        RequestStatus.ADVICE,
        RequestStatus.REDIRECTED,
        RequestStatus.ORIENTED,
        RequestStatus.UNPLACED,
        RequestStatus.CANCELLED,
    },
    RequestStatus.BOOKED: {
        RequestStatus.DONE,
        RequestStatus.NOSHOW,
        RequestStatus.OPEN,  # booking cancelled: back to the worklist
        RequestStatus.CANCELLED,
    },
    RequestStatus.NOSHOW: {RequestStatus.OPEN},  # the patient calls back
}


def motif_rows(*, path: Path = MOTIFS_FILE) -> list[tuple[str, dict]]:
    """(code, fields) for each CISP-2 motif of the CSV shipped with the app."""
    with open(path, encoding="utf-8") as f:
        return [
            (
                row["code"],
                {
                    "label": row["label_fr"],
                    "chapter": row["chapitre"],
                    "refer_to_15": row["orienter_vers_15"].strip().lower() == "oui",
                },
            )
            for row in csv.DictReader(f)
        ]


@transaction.atomic
def motifs_load(*, path: Path = MOTIFS_FILE, model=Motif) -> int:
    """Load or refresh the motifs (`model` lets data migrations pass their historical model)."""
    rows = motif_rows(path=path)
    for code, fields in rows:
        model.objects.update_or_create(code=code, defaults=fields)
    return len(rows)


@dataclass
class PatientInput:
    first_name: str
    last_name: str
    birth_date: date | None
    phone: str
    commune: Commune
    email: str = ""
    medecin_traitant: Professional | None = None

    @classmethod
    def from_cleaned(cls, data: dict) -> "PatientInput":
        """From a form's cleaned data (intake, referral and web forms share the names)."""
        return cls(
            first_name=data["first_name"],
            last_name=data["last_name"],
            birth_date=data.get("birth_date"),
            phone=data["phone"],
            commune=data["commune"],
            email=data.get("email") or "",
            medecin_traitant=data.get("medecin_traitant"),
        )


def normalize_phone(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit() or c == "+")
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    return digits


def patient_find_or_create(*, data: PatientInput, user=None) -> Patient:
    """The same person (same names and birth date) is not created twice."""
    last, first = data.last_name.strip(), data.first_name.strip()
    if not last or not first:
        raise ApplicationError("Le nom et le prénom du patient sont obligatoires.")
    if data.birth_date and data.birth_date > timezone.localdate():
        raise ApplicationError("La date de naissance est dans le futur.")
    phone = normalize_phone(data.phone)
    existing = Patient.objects.filter(
        last_name__iexact=last, first_name__iexact=first, birth_date=data.birth_date
    ).first()
    if existing:
        changed = []
        for field_name, value in (
            ("phone", phone),
            ("email", data.email),
            ("commune", data.commune),
            ("medecin_traitant", data.medecin_traitant),
        ):
            if value and getattr(existing, field_name) != value:
                setattr(existing, field_name, value)
                changed.append(field_name)
        if changed:
            existing.save(update_fields=[*changed, "updated_at"])
        return existing
    patient = Patient.objects.create(
        first_name=first,
        last_name=last,
        birth_date=data.birth_date,
        phone=phone,
        email=data.email,
        commune=data.commune,
        medecin_traitant=data.medecin_traitant,
    )
    audit_record(user=user, action="create", obj=patient)
    return patient


def _new_reference(departement_code: str) -> str:
    suffix = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
    return f"{departement_code}-{suffix}"


def request_create(
    *,
    patient: Patient,
    channel: str,
    motif: Motif | None,
    motif_text: str = "",
    urgency: str = UrgencyBand.H12_24,
    created_by=None,
    scope: Scope | None = None,
    priority: str = "",
    track: str = "",
    to_regulate: bool = False,
) -> Request:
    """Capture a request once, whatever the door. Red flags in the motif are looked
    for here (they block GP booking until a médecin régulateur lifts them), and an
    open request of the same patient in the last 48 h is flagged as a duplicate."""
    if channel not in Channel.values:
        raise ApplicationError("Canal inconnu.")
    if urgency not in UrgencyBand.values:
        raise ApplicationError("Délai inconnu.")
    if motif is None and not motif_text.strip():
        raise ApplicationError("Indiquez un motif (code CISP-2 ou texte).")
    if priority and priority not in Priority.values:
        raise ApplicationError("Priorité inconnue (P0 à P3).")
    if track and track not in Track.values:
        raise ApplicationError("Filière inconnue.")
    flags = red_flags_of(motif=motif, motif_text=motif_text)
    commune = patient.commune
    sas = getattr(commune.departement, "sas", None)
    if sas is None:
        raise ApplicationError(
            f"Aucun SAS n'est configuré pour le département {commune.departement.name}."
        )
    cpts = cpts_for_commune(commune=commune)
    if scope is not None and not (
        sas.pk in scope.sas_ids or (cpts is not None and cpts.pk in scope.cpts_ids)
    ):
        raise PermissionDenied(
            "Ce patient réside hors de votre territoire : transférez la demande au SAS "
            f"{commune.departement.name}."
        )
    for _ in range(5):
        try:
            with transaction.atomic():
                req = Request.objects.create(
                    reference=_new_reference(commune.departement.code),
                    patient=patient,
                    channel=channel,
                    motif=motif,
                    motif_text=motif_text.strip(),
                    urgency=urgency,
                    sas=sas,
                    cpts=cpts,
                    created_by=created_by,
                    priority=priority,
                    track=track,
                    status=RequestStatus.TO_REGULATE if to_regulate else RequestStatus.OPEN,
                    red_flag=bool(flags),
                    red_flag_reasons=", ".join(flags)[:300],
                    duplicate_of=_recent_request_of(patient, now=timezone.now()),
                )
                RequestEvent.objects.create(
                    request=req,
                    actor=created_by,
                    to_status=req.status,
                    note="Demande créée"
                    + (f" — signe de gravité : {req.red_flag_reasons}" if flags else ""),
                )
                audit_record(user=created_by, action="create", obj=req)
                return req
        except IntegrityError:  # reference collision, astronomically rare: draw again
            continue
    raise ApplicationError("Impossible de créer la demande, réessayez.")


def red_flags_of(*, motif: Motif | None, motif_text: str) -> list[str]:
    """Severity signs in the free text, plus a motif that itself calls for the 15."""
    from relais.regulation.matching import get_matcher

    reasons = []
    if motif_text.strip():
        result = get_matcher().match(motif_text[:2000], limit=1)
        reasons += result.red_flag_reasons if result.red_flag else []
    if motif is not None and motif.refer_to_15 and motif.label not in reasons:
        reasons.append(motif.label)
    return reasons


def _recent_request_of(patient: Patient, *, now) -> Request | None:
    return (
        Request.objects.filter(patient=patient, created_at__gte=now - timedelta(hours=48))
        .exclude(status__in=CLOSED_STATUSES)
        .order_by("-created_at")
        .first()
    )


# What each decision of the médecin régulateur does to the request.
DECISION_OUTCOMES = {
    Decision.CONSEIL: RequestStatus.ADVICE,
    Decision.TELECONSULTATION: RequestStatus.OPEN,
    Decision.CONSULTATION: RequestStatus.OPEN,
    Decision.VISITE: RequestStatus.OPEN,
    Decision.URGENCES: RequestStatus.REDIRECTED,
    Decision.SMUR: RequestStatus.REDIRECTED,
    Decision.PDSA: RequestStatus.ORIENTED,
    Decision.PHARMACIE: RequestStatus.ORIENTED,
}


def request_decide(
    *, request: Request, user, decision: str, urgency: str | None = None, note: str = ""
) -> Request:
    """The médecin régulateur's decision, recorded with who and when. A consultation
    (office, teleconsultation, home visit) puts the request in the OSNP worklist."""
    if decision not in DECISION_OUTCOMES:
        raise ApplicationError("Décision inconnue.")
    if urgency and urgency not in UrgencyBand.values:
        raise ApplicationError("Délai inconnu.")
    if decision == Decision.CONSEIL and not note.strip():
        raise ApplicationError("Résumez le conseil donné au patient.")
    target = DECISION_OUTCOMES[decision]
    now = timezone.now()
    label = Decision(decision).label
    with transaction.atomic():
        if target != request.status:
            request_transition(
                request=request,
                to_status=target,
                actor=user,
                note=f"Décision du régulateur : {label}" + (f" — {note}" if note else ""),
            )
        fields = {"decision": decision, "decided_by": user, "decided_at": now}
        if decision == Decision.CONSEIL:
            fields["advice_note"] = note.strip()
        if urgency:
            fields["urgency"] = urgency
        Request.objects.filter(pk=request.pk).update(**fields)
        for key, value in fields.items():
            setattr(request, key, value)
        audit_record(user=user, action="update", obj=request, reason=f"décision {decision}")
    return request


def request_override_red_flag(*, request: Request, user, reason: str) -> Request:
    """Only a médecin régulateur lifts a red flag, with a reason kept on the request."""
    if not reason.strip():
        raise ApplicationError("Indiquez pourquoi l'alerte est levée.")
    now = timezone.now()
    updated = Request.objects.filter(
        pk=request.pk, red_flag=True, red_flag_override_at__isnull=True
    ).update(
        red_flag_override_by=user,
        red_flag_override_reason=reason.strip()[:300],
        red_flag_override_at=now,
    )
    if not updated:
        raise ApplicationError("Aucune alerte à lever sur cette demande.")
    RequestEvent.objects.create(
        request=request,
        actor=user,
        from_status=request.status,
        to_status=request.status,
        note=f"Alerte de gravité levée par le régulateur : {reason.strip()[:200]}",
    )
    audit_record(user=user, action="update", obj=request, reason="levée d'alerte")
    request.red_flag_override_by, request.red_flag_override_at = user, now
    request.red_flag_override_reason = reason.strip()[:300]
    return request


def request_merge(*, duplicate: Request, into: Request, user=None) -> Request:
    """Close a duplicate request into the one kept (same patient, asked twice)."""
    if duplicate.pk == into.pk or duplicate.patient_id != into.patient_id:
        raise ApplicationError("Seules deux demandes du même patient peuvent être fusionnées.")
    with transaction.atomic():
        request_transition(
            request=duplicate,
            to_status=RequestStatus.CANCELLED,
            actor=user,
            note=f"Doublon de {into.reference}, fusionnée",
        )
        RequestEvent.objects.create(
            request=into,
            actor=user,
            from_status=into.status,
            to_status=into.status,
            note=f"Demande {duplicate.reference} ({duplicate.get_channel_display()}) fusionnée ici",
        )
        if duplicate.motif_text and duplicate.motif_text not in into.motif_text:
            into.motif_text = f"{into.motif_text}\n[{duplicate.reference}] {duplicate.motif_text}"
            into.save(update_fields=["motif_text", "updated_at"])
    return into


def request_transition(
    *, request: Request, to_status: str, actor=None, note: str = "", expected: str | None = None
) -> Request:
    """Move a request to a new status with an atomic conditional update.

    `expected` is the status the caller saw; when omitted the current one is used.
    """
    from_status = expected or request.status
    if to_status not in TRANSITIONS.get(from_status, set()):
        raise ApplicationError(
            f"Transition impossible : « {RequestStatus(from_status).label} » → "
            f"« {RequestStatus(to_status).label} »."
        )
    now = timezone.now()
    fields = {"status": to_status, "updated_at": now}
    if to_status in CLOSED_STATUSES:
        fields["closed_at"] = now
        fields["closing_reason"] = note[:300]
    with transaction.atomic():
        updated = Request.objects.filter(pk=request.pk, status=from_status).update(**fields)
        if not updated:
            raise ApplicationError(
                "La demande a été modifiée entre-temps : rechargez la page.", code="stale"
            )
        RequestEvent.objects.create(
            request=request, actor=actor, from_status=from_status, to_status=to_status, note=note
        )
    for key, value in fields.items():
        setattr(request, key, value)
    return request


WEB_AUTO_CODE_MIN_SCORE = 0.5


def web_request_submit(*, cpts, data: PatientInput, motif_text: str) -> Request:
    """A patient's request from the CPTS web form: coded automatically when the matcher
    is confident, confirmed by SMS/e-mail with a signed follow-up link."""
    from django.conf import settings
    from django.urls import reverse

    from relais.notifications.models import NotificationChannel
    from relais.notifications.services import notification_create
    from relais.regulation.matching import get_matcher
    from relais.regulation.tokens import follow_token

    best = get_matcher().match(motif_text[:1000], limit=1).suggestions
    motif = None
    if best and best[0].score >= WEB_AUTO_CODE_MIN_SCORE:
        motif = Motif.objects.filter(code=best[0].code).first()
    with transaction.atomic():
        patient = patient_find_or_create(data=data)
        req = request_create(
            patient=patient, channel=Channel.WEB, motif=motif, motif_text=motif_text
        )
        link = settings.SITE_URL + reverse("regulation:follow", args=[follow_token(req)])
        text = (
            f"Relais : votre demande {req.reference} est enregistrée auprès de la {cpts.name}. "
            f"Nous vous rappelons. Suivi : {link}"
        )
        notification_create(
            kind="web_request", channel=NotificationChannel.SMS, recipient=patient.phone, body=text
        )
        notification_create(
            kind="web_request",
            channel=NotificationChannel.EMAIL,
            recipient=patient.email,
            subject="Relais : votre demande de soins est enregistrée",
            body=text,
        )
    return req
