"""Writes for regulation: patients, requests and their lifecycle."""

import csv
import secrets
from dataclasses import dataclass
from datetime import date
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
    Motif,
    Patient,
    Request,
    RequestEvent,
    RequestStatus,
    UrgencyBand,
)
from relais.territory.models import Commune
from relais.territory.selectors import cpts_for_commune

MOTIFS_FILE = Path(__file__).resolve().parent / "data" / "motifs-cisp2.csv"
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone

# Allowed transitions of a request. Anything else is refused with a clear message.
TRANSITIONS: dict[str, set[str]] = {
    RequestStatus.OPEN: {
        RequestStatus.BOOKED,
        RequestStatus.ADVICE,
        RequestStatus.REDIRECTED,
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
) -> Request:
    if channel not in Channel.values:
        raise ApplicationError("Canal inconnu.")
    if urgency not in UrgencyBand.values:
        raise ApplicationError("Délai inconnu.")
    if motif is None and not motif_text.strip():
        raise ApplicationError("Indiquez un motif (code CISP-2 ou texte).")
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
                )
                RequestEvent.objects.create(
                    request=req, actor=created_by, to_status=req.status, note="Demande créée"
                )
                audit_record(user=created_by, action="create", obj=req)
                return req
        except IntegrityError:  # reference collision, astronomically rare: draw again
            continue
    raise ApplicationError("Impossible de créer la demande, réessayez.")


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
