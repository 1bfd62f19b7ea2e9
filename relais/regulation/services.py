"""Writes for regulation: patients, requests and their lifecycle."""

import csv
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from relais.accounts.permissions import Scope
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError, Conflict, PermissionDenied
from relais.directory.models import Professional
from relais.regulation.models import (
    CLOSED_STATUSES,
    Channel,
    Decision,
    IdentityStatus,
    Motif,
    Patient,
    Priority,
    RedFlagAnswer,
    Request,
    RequestEvent,
    RequestStatus,
    Track,
    UrgencyBand,
)
from relais.territory.models import Commune, Sas
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
    RequestStatus.NOSHOW: {
        RequestStatus.OPEN,  # the patient calls back
        RequestStatus.DONE,  # outcome corrected (orientation.services.booking_record_outcome)
    },
    RequestStatus.DONE: {RequestStatus.NOSHOW},  # outcome corrected, within its 7 days
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


def _patient_identity(data: PatientInput) -> tuple[str, str]:
    last, first = data.last_name.strip(), data.first_name.strip()
    if not last or not first:
        raise ApplicationError("Le nom et le prénom du patient sont obligatoires.")
    if data.birth_date and data.birth_date > timezone.localdate():
        raise ApplicationError("La date de naissance est dans le futur.")
    if len(last) > 100 or len(first) > 100:
        raise ApplicationError("Nom ou prénom trop long (100 caractères au plus).")
    if len(normalize_phone(data.phone or "")) > 20 or len(data.email or "") > 254:
        raise ApplicationError("Téléphone ou e-mail trop long.")
    return last, first


def patient_sas_for(*, commune: Commune) -> Sas:
    """The territory a new patient of this commune belongs to (its département's SAS)."""
    sas = getattr(commune.departement, "sas", None)
    if sas is None:
        raise ApplicationError(
            f"Aucun SAS n'est configuré pour le département {commune.departement.name}."
        )
    return sas


def patient_create(
    *, data: PatientInput, sas: Sas | None = None, user=None, api_client: str = ""
) -> Patient:
    """A new patient record, owned by `sas` (by default the SAS of the patient's commune).

    Never looks for an existing record: matching only proposes (patient_candidates), and
    the operator confirms the one to take up; the web form, API and FHIR never reuse a
    record they were not explicitly pointed to."""
    last, first = _patient_identity(data)
    if data.commune is None:
        raise ApplicationError("La commune du patient est obligatoire.")
    patient = Patient.objects.create(
        sas=sas or patient_sas_for(commune=data.commune),
        first_name=first,
        last_name=last,
        birth_date=data.birth_date,
        phone=normalize_phone(data.phone),
        email=data.email,
        commune=data.commune,
        medecin_traitant=data.medecin_traitant,
    )
    audit_record(user=user, api_client=api_client, action="create", obj=patient)
    return patient


def patient_in_scope(*, patient: Patient, scope: Scope) -> bool:
    """A patient is the business of its own territory only (see selectors.patients_for)."""
    from relais.regulation.selectors import patients_for

    return patients_for(scope=scope).filter(pk=patient.pk).exists()


CONTACT_FIELDS = ("phone", "email", "commune", "medecin_traitant")
NOT_GIVEN = object()


def patient_update_contact(
    *,
    patient: Patient,
    scope: Scope,
    user,
    phone=NOT_GIVEN,
    email=NOT_GIVEN,
    commune=NOT_GIVEN,
    medecin_traitant=NOT_GIVEN,
    reason: str = "",
) -> list[str]:
    """The one way a patient's own details change: staff of the patient's territory,
    explicitly, audited (the fields changed, never their values). Returns the fields
    changed. Requests keep the callback contact they were made with."""
    if not (scope.can("request.create") or scope.can("request.orient")):
        raise PermissionDenied("Votre rôle ne permet pas de modifier la fiche d'un patient.")
    if patient.anonymised_at is not None:
        raise ApplicationError("Ce patient a été anonymisé : sa fiche ne se modifie plus.")
    if not patient_in_scope(patient=patient, scope=scope):
        raise PermissionDenied("Ce patient ne relève pas de votre territoire.")
    values = {
        "phone": phone,
        "email": email,
        "commune": commune,
        "medecin_traitant": medecin_traitant,
    }
    changes = {}
    for name, value in values.items():
        if value is NOT_GIVEN:
            continue
        if name == "phone":
            value = normalize_phone(value or "")
            if len(value) > 20:
                raise ApplicationError("Numéro de téléphone trop long.")
        if name == "email":
            value = (value or "").strip()
            if len(value) > 254:
                raise ApplicationError("Adresse e-mail trop longue.")
        if name == "commune":
            if value is None:
                raise ApplicationError("La commune du patient est obligatoire.")
            if patient.sas_id and patient_sas_for(commune=value).pk != patient.sas_id:
                raise ApplicationError(
                    "Cette commune relève d'un autre SAS : la fiche reste dans son territoire ; "
                    "créez la demande comme nouveau patient dans le SAS concerné."
                )
        if getattr(patient, name) != value:
            changes[name] = value
    if not changes:
        return []
    with transaction.atomic():
        for name, value in changes.items():
            setattr(patient, name, value)
        patient.save(update_fields=[*changes, "updated_at"])
        audit_record(
            user=user,
            action="update",
            obj=patient,
            reason=("coordonnées : " + ", ".join(changes) + (f" — {reason}" if reason else ""))[
                :300
            ],
        )
    return list(changes)


def patient_set_identity_status(*, patient: Patient, status: str, user=None) -> Patient:
    """Change the INS identity status. "Qualifiée" requires the INSi procedure: it is
    refused unless the INSi check is recorded (timestamp, INS and its OID). Relais has
    no INSi client yet, so nothing can qualify an identity today (the database refuses
    it too, constraint patient_qualified_needs_insi)."""
    if status not in IdentityStatus.values:
        raise ApplicationError("Statut d'identité inconnu.")
    if status == IdentityStatus.QUALIFIEE and not (
        patient.insi_checked_at and patient.ins_nir and patient.ins_oid
    ):
        raise ApplicationError(
            "Une identité ne peut être qualifiée qu'après vérification par le téléservice INSi."
        )
    Patient.objects.filter(pk=patient.pk).update(identity_status=status, updated_at=timezone.now())
    patient.identity_status = status
    audit_record(user=user, action="update", obj=patient, reason=f"statut d'identité {status}")
    return patient


class PatientChoiceNeeded(ApplicationError):
    """Known patients of the caller's territory carry the typed identity: the operator
    says which one it is, or that this is a new patient."""

    code = "patient_choice_needed"

    def __init__(self, candidates: list[Patient]):
        super().__init__(
            "Un patient de votre territoire porte déjà cette identité : indiquez s'il s'agit "
            "du même patient ou d'un nouveau patient."
        )
        self.candidates = candidates


def request_intake(
    *,
    scope: Scope,
    user,
    data: PatientInput,
    patient_choice,
    channel: str,
    motif: Motif | None,
    motif_text: str = "",
    urgency: str = UrgencyBand.H12_24,
    priority: str = "",
    track: str = "",
    to_regulate: bool = False,
    red_flag_answers: dict[str, str | None] | None = None,
) -> tuple[Request, list[str]]:
    """A request typed by staff (intake or referral), in one transaction.

    `patient_choice`: a known patient's public id the operator confirmed (it must be of
    the caller's territory), "new", or "" (not said: if records of the territory carry
    the same identity, PatientChoiceNeeded is raised to ask). The patient's record is
    never changed here: the typed phone/e-mail are this request's callback contact.
    Returns the request and notes for the operator."""
    from django.http import Http404

    from relais.regulation.selectors import patient_candidates, patient_get_for_scope

    notes = []
    with transaction.atomic():
        if isinstance(patient_choice, uuid.UUID):
            try:
                patient = patient_get_for_scope(scope=scope, public_id=patient_choice)
            except Http404:
                raise ApplicationError(
                    "Patient introuvable dans votre territoire.", code="patient_not_found"
                ) from None
            if data.commune is not None and data.commune != patient.commune:
                notes.append(
                    f"La fiche du patient garde sa commune ({patient.commune.name}) : "
                    "modifiez-la depuis la demande si le patient a déménagé."
                )
            phone = normalize_phone(data.phone) or patient.phone
            email = data.email or patient.email
        else:
            if patient_choice != "new":
                _patient_identity(data)
                candidates = patient_candidates(
                    scope=scope,
                    last_name=data.last_name,
                    first_name=data.first_name,
                    birth_date=data.birth_date,
                )
                if candidates:
                    raise PatientChoiceNeeded(candidates)
            if data.commune is None:
                raise ApplicationError("La commune du patient est obligatoire.")
            patient = patient_create(data=data, user=user)
            phone, email = patient.phone, patient.email
        req = request_create(
            patient=patient,
            channel=channel,
            motif=motif,
            motif_text=motif_text,
            urgency=urgency,
            created_by=user,
            scope=scope,
            priority=priority,
            track=track,
            to_regulate=to_regulate,
            callback_phone=phone,
            callback_email=email,
            red_flag_answers=red_flag_answers,
        )
    return req, notes


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
    callback_phone: str | None = None,
    callback_email: str | None = None,
    api_client: str = "",
    red_flag_answers: dict[str, str | None] | None = None,
) -> Request:
    """Capture a request once, whatever the door. Red flags in the motif are looked
    for here and routed by one rule (`red_flag_route`, docs/red-flags.md): priority P0/P1,
    the shortest delay band, status "à réguler" (to the médecin régulateur, never
    straight to the OSNP worklist); they block GP booking until a régulateur lifts them.
    An open request of the same patient (same record, or same identity in the same SAS)
    in the last 48 h is flagged as a duplicate.

    `callback_phone` / `callback_email`: the contact given for this call, where every
    message about the request goes (None: the patient's record's).
    `red_flag_answers`: {question id: "yes" | "no" | "unknown" | None} when the door
    showed the confirming questions (None: it did not); a "yes" confirms its criterion."""
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
    finding, answer_rows = _red_flag_assessment(
        patient=patient, motif=motif, motif_text=motif_text, answers=red_flag_answers
    )
    flags = finding.reasons
    status = RequestStatus.TO_REGULATE if to_regulate else RequestStatus.OPEN
    if finding.flagged:
        status, priority, urgency = red_flag_route(finding, priority=priority)
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
    if patient.sas_id is not None and patient.sas_id != sas.pk:
        raise PermissionDenied("Ce patient relève d'un autre territoire.")
    phone = normalize_phone(patient.phone if callback_phone is None else callback_phone)
    email = (patient.email if callback_email is None else callback_email).strip()
    if len(phone) > 20 or len(email) > 254:
        raise ApplicationError("Téléphone ou e-mail de rappel trop long.")
    for _ in range(5):
        try:
            with transaction.atomic():
                req = Request.objects.create(
                    reference=_new_reference(commune.departement.code),
                    patient=patient,
                    callback_phone=phone,
                    callback_email=email,
                    channel=channel,
                    motif=motif,
                    motif_text=motif_text.strip(),
                    urgency=urgency,
                    sas=sas,
                    cpts=cpts,
                    created_by=created_by,
                    priority=priority,
                    track=track,
                    status=status,
                    red_flag=bool(flags),
                    red_flag_reasons=", ".join(flags)[:300],
                    red_flag_criteria=finding.criteria,
                    duplicate_of=_recent_request_of(patient, sas=sas, now=timezone.now()),
                )
                RedFlagAnswer.objects.bulk_create(
                    RedFlagAnswer(request=req, answered_by=created_by, **row) for row in answer_rows
                )
                RequestEvent.objects.create(
                    request=req,
                    actor=created_by,
                    to_status=req.status,
                    note=(
                        "Demande créée"
                        + (
                            f" — signe de gravité : {req.red_flag_reasons} — transmise au "
                            f"médecin régulateur ({req.priority}, "
                            f"{UrgencyBand(req.urgency).label.lower()})"
                            if flags
                            else ""
                        )
                    )[:300],
                )
                audit_record(user=created_by, api_client=api_client, action="create", obj=req)
                return req
        except IntegrityError:  # reference collision, astronomically rare: draw again
            continue
    raise ApplicationError("Impossible de créer la demande, réessayez.")


def red_flags_of(*, motif: Motif | None, motif_text: str) -> list[str]:
    """Severity signs in the free text, plus a motif that itself calls for the 15."""
    return red_flag_finding(motif=motif, motif_text=motif_text).reasons


@dataclass(frozen=True)
class RedFlagFinding:
    """What raised the alert: criterion ids (most severe first), French labels, and the
    priority of the most severe criterion ("" when nothing raised it)."""

    criteria: list[str]
    reasons: list[str]
    priority: str

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


# A flag whose criterion has no priority of its own (a CISP-2 motif that calls for the
# 15, a criterion unknown to the referential) is treated as a vital emergency.
DEFAULT_RED_FLAG_PRIORITY = Priority.P1
PRIORITY_RANK = {p: i for i, p in enumerate(Priority.values)}  # P0 most severe


def red_flag_finding(
    *,
    motif: Motif | None,
    motif_text: str,
    result=None,
    confirmed: tuple[str, ...] = (),
    age_years: int | None = None,
    sex: str | None = None,
) -> RedFlagFinding:
    """The red flags of a motif: the matcher's triggering criteria, the criteria an
    intake answer "oui" confirmed, and a CISP-2 motif that itself calls for the 15."""
    from relais.regulation.red_flags import motif_match, referential_criteria

    if result is None and motif_text.strip():
        result = motif_match(motif_text, age_years=age_years, sex=sex)
    criteria, reasons = [], []
    if result is not None and result.red_flag:
        criteria = list(getattr(result, "red_flag_criteria", None) or [])
        reasons = list(result.red_flag_reasons)
    known = referential_criteria()
    for cid in confirmed:
        if cid not in criteria:
            criteria.append(cid)
            label = known[cid].label if cid in known else cid
            if label not in reasons:
                reasons.append(f"{label} (confirmé à l'appel)")
    if motif is not None and motif.refer_to_15 and motif.label not in reasons:
        reasons.append(motif.label)
    priorities = [known[c].priority for c in criteria if c in known and known[c].priority]
    priority = ""
    if reasons:
        priority = min(priorities or [DEFAULT_RED_FLAG_PRIORITY], key=PRIORITY_RANK.get)
    criteria.sort(key=lambda c: PRIORITY_RANK.get(known[c].priority, 9) if c in known else 9)
    return RedFlagFinding(criteria=criteria, reasons=reasons, priority=priority)


def red_flag_route(finding: RedFlagFinding, *, priority: str = "") -> tuple[str, str, str]:
    """THE routing rule of a flagged request, for every door (phone, web, referral, API,
    FHIR): (status, priority, urgency) = to the médecin régulateur, the priority of the
    most severe criterion (or the one typed, if more severe), the shortest delay band.
    Never straight to the OSNP worklist: only a régulateur's decision sends it there."""
    given = priority if priority in PRIORITY_RANK else ""
    chosen = min([p for p in (given, finding.priority) if p], key=PRIORITY_RANK.get)
    return RequestStatus.TO_REGULATE, chosen, UrgencyBand.H0_4


def _red_flag_assessment(*, patient, motif, motif_text: str, answers):
    """The finding for a new request and the RedFlagAnswer rows to store with it."""
    from relais.regulation.red_flags import (
        age_in_years,
        is_alarming,
        motif_match,
        question_index,
        questions_for,
    )

    age, sex = age_in_years(patient.birth_date), getattr(patient, "sex", "") or None
    result = motif_match(motif_text, age_years=age, sex=sex) if motif_text.strip() else None
    rows, index = [], {}
    if answers is not None:
        index = question_index()
        values = dict(answers)
        if result is not None:
            for item in questions_for(result):
                for q in item.questions:
                    values.setdefault(q.id, None)
        for question_id, answer in values.items():
            if question_id not in index:
                raise ApplicationError(
                    "Question de gravité inconnue.", code="unknown_red_flag_question"
                )
            if answer not in (None, *RedFlagAnswer.Answer.values):
                raise ApplicationError(
                    "Réponse invalide (oui, non ou ne sait pas).", code="invalid_answer"
                )
            rows.append(
                {
                    "criterion_id": index[question_id][0].id,
                    "question_id": question_id,
                    "answer": answer or RedFlagAnswer.Answer.UNKNOWN,
                }
            )
    confirmed = tuple(
        dict.fromkeys(
            r["criterion_id"] for r in rows if is_alarming(index[r["question_id"]][1], r["answer"])
        )
    )
    finding = red_flag_finding(
        motif=motif, motif_text=motif_text, result=result, confirmed=confirmed
    )
    return finding, rows


def _recent_request_of(patient: Patient, *, sas: Sas, now) -> Request | None:
    """An open request of the same person in the last 48 h, in the same territory only:
    the same record, or a record of the same SAS with the same names and birth date
    (e.g. the web form and a phone call), never a request of another SAS."""
    same_person = Q(patient=patient)
    if patient.first_name and patient.last_name:
        same_person |= Q(
            patient__last_name__iexact=patient.last_name,
            patient__first_name__iexact=patient.first_name,
            patient__birth_date=patient.birth_date,
        )
    return (
        Request.objects.filter(same_person, sas=sas, created_at__gte=now - timedelta(hours=48))
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


# While a red-flag alert is active, the régulateur either CONFIRMS it, by a decision that
# sends the patient to emergency care (these two), or LIFTS it with a recorded reason.
# Every other decision is refused: consultation, teleconsultation and home visit put the
# patient on a GP's list (the OSNP worklist); PDSA (on-call GP house) and pharmacy are
# ambulatory care too; and "conseil" (advice only, the patient stays at home) is the
# furthest from the 15 of all. Each of them would de-escalate a possibly life-threatening
# situation without anyone saying why, which is what the alert exists to prevent.
RED_FLAG_CONFIRMING_DECISIONS = frozenset({Decision.URGENCES, Decision.SMUR})
RED_FLAG_BLOCKED_DECISIONS = frozenset(set(Decision.values) - RED_FLAG_CONFIRMING_DECISIONS)


class RedFlagActive(Conflict):
    """A decision or move that would de-escalate a request whose alert is still active."""

    code = "red_flag_active"


def _alert_active(request: Request) -> bool:
    """The alert as stored now (another régulateur may have just lifted it)."""
    return Request.objects.filter(
        pk=request.pk, red_flag=True, red_flag_override_at__isnull=True
    ).exists()


def request_decide(
    *,
    request: Request,
    user,
    decision: str,
    urgency: str | None = None,
    note: str = "",
    lift_reason: str = "",
) -> Request:
    """The médecin régulateur's decision, recorded with who and when. A consultation
    (office, teleconsultation, home visit) puts the request in the OSNP worklist.

    While the red-flag alert is active: an emergency decision (urgences, SMUR) confirms
    it (recorded in the timeline and the audit trail); any other decision is refused
    (RedFlagActive, HTTP 409) unless `lift_reason` says why the alert is lifted, in which
    case it is lifted first (request_override_red_flag), in the same transaction."""
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
        active = _alert_active(request)
        if active and decision in RED_FLAG_BLOCKED_DECISIONS:
            if not lift_reason.strip():
                raise RedFlagActive(
                    f"Signe de gravité actif ({request.red_flag_reasons}) : la décision "
                    f"« {label} » n'est possible qu'après avoir levé l'alerte en indiquant "
                    "pourquoi. Sinon, confirmez-la (Urgences ou SMUR)."
                )
            request_override_red_flag(request=request, user=user, reason=lift_reason)
        elif active:
            RequestEvent.objects.create(
                request=request,
                actor=user,
                from_status=request.status,
                to_status=request.status,
                note=f"Alerte de gravité confirmée par le régulateur : {label}"[:300],
            )
            audit_record(user=user, action="update", obj=request, reason="confirmation d'alerte")
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
    same_patient = duplicate.patient_id == into.patient_id or (
        duplicate.duplicate_of_id == into.pk and duplicate.sas_id == into.sas_id
    )
    if duplicate.pk == into.pk or not same_patient:
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
        if duplicate.red_flag_blocks_booking:
            _carry_red_flag(duplicate=duplicate, into=into, user=user)
    return into


def _carry_red_flag(*, duplicate: Request, into: Request, user) -> None:
    """A merged duplicate's active alert is not lost: the kept request takes its criteria
    and reasons and, if it was waiting for a slot, goes to the régulateur (red_flag_route)."""
    criteria = list(dict.fromkeys([*(into.red_flag_criteria or []), *duplicate.red_flag_criteria]))
    reasons = into.red_flag_reasons if into.red_flag_blocks_booking else ""
    merged = ", ".join(r for r in (reasons, duplicate.red_flag_reasons) if r)[:300]
    finding = RedFlagFinding(
        criteria=criteria, reasons=[merged], priority=duplicate.priority or Priority.P1
    )
    _, priority, urgency = red_flag_route(finding, priority=into.priority)
    Request.objects.filter(pk=into.pk).update(
        red_flag=True,
        red_flag_reasons=merged,
        red_flag_criteria=criteria,
        red_flag_override_at=None,
        red_flag_override_by=None,
        red_flag_override_reason="",
        priority=priority,
        urgency=urgency,
    )
    into.red_flag, into.red_flag_reasons, into.red_flag_criteria = True, merged, criteria
    into.red_flag_override_at, into.red_flag_override_by = None, None
    into.red_flag_override_reason, into.priority, into.urgency = "", priority, urgency
    note = f"Signe de gravité repris de {duplicate.reference} : {duplicate.red_flag_reasons}"
    if into.status == RequestStatus.OPEN:
        request_transition(
            request=into, to_status=RequestStatus.TO_REGULATE, actor=user, note=note[:300]
        )
    else:
        RequestEvent.objects.create(
            request=into,
            actor=user,
            from_status=into.status,
            to_status=into.status,
            note=note[:300],
        )


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
    if to_status == RequestStatus.OPEN and _alert_active(request):
        # The OSNP worklist is for requests a régulateur cleared: an active alert never
        # gets there, whatever the caller (request_decide lifts it first, with a reason).
        raise RedFlagActive(
            "Signe de gravité actif : la demande reste au médecin régulateur tant que "
            "l'alerte n'est pas levée ou confirmée."
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


def web_request_submit(
    *,
    cpts,
    data: PatientInput,
    motif_text: str,
    red_flag_answers: dict[str, str | None] | None = None,
    wanted_slot=None,
) -> Request:
    """A patient's request from the CPTS web form: coded automatically when the matcher
    is confident, confirmed by SMS/e-mail with a signed follow-up link. The confirming
    questions were all answered "non" (any "oui" stores nothing: web_views); a red flag
    of the text still goes to the médecin régulateur (request_create).

    `wanted_slot`: the public slot the patient chose (regulation.web.chosen_slot). The
    web channel never books by itself (the CPTS calls back, then books), so the request
    keeps it as the patient's choice, for the operator to book first; nor is it held (a
    hold is an operator's, for minutes; it would block the operator who calls back)."""
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
        # Anonymous door: always a new record of the CPTS's territory, never a match (a
        # stranger typing someone's identity must neither reach nor change their record).
        patient = patient_create(data=data)
        req = request_create(
            patient=patient,
            channel=Channel.WEB,
            motif=motif,
            motif_text=motif_text,
            callback_phone=data.phone,
            callback_email=data.email,
            red_flag_answers=red_flag_answers,
        )
        if wanted_slot is not None:
            req.wanted_slot = wanted_slot
            req.save(update_fields=["wanted_slot"])
        link = settings.SITE_URL + reverse("regulation:follow", args=[follow_token(req)])
        text = (
            f"Relais : votre demande {req.reference} est enregistrée auprès de la {cpts.name}. "
            f"Nous vous rappelons. Suivi : {link}"
        )
        # Abuse limit (h5): at most N texts an hour to one number from the form; beyond,
        # the request stays on the worklist but no SMS goes out (no SMS pumping).
        from relais.regulation.web_limits import web_sms_allowed

        if web_sms_allowed(recipient=req.callback_phone):
            notification_create(
                kind="web_request",
                channel=NotificationChannel.SMS,
                recipient=req.callback_phone,
                body=text,
            )
        notification_create(
            kind="web_request",
            channel=NotificationChannel.EMAIL,
            recipient=req.callback_email,
            subject="Relais : votre demande de soins est enregistrée",
            body=text,
        )
    return req
