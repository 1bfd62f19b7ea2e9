from datetime import date, datetime
from uuid import UUID

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from relais.accounts.api_auth import require_api
from relais.audit.services import audit_record, audit_record_reads
from relais.core.errors import ApplicationError, NotFound
from relais.regulation.models import Channel, Decision, UrgencyBand
from relais.regulation.referential import criterion
from relais.regulation.selectors import (
    deadline_state,
    motif_get,
    motif_suggestions,
    patient_get_for_scope,
    request_get_for_user,
    requests_to_regulate,
    requests_worklist,
)
from relais.regulation.services import (
    PatientInput,
    patient_create,
    request_create,
    request_decide,
)
from relais.territory.selectors import commune_get

router = Router(tags=["régulation"])
motifs_router = Router(tags=["régulation"])


class SuggestionOut(Schema):
    code: str
    label: str
    score: float


class CriterionRefOut(Schema):
    id: str = Field(..., description="Identifiant du critère du référentiel (ex. `acs`).")
    label: str


class QuestionOut(Schema):
    id: str
    text: str


class CandidateCriterionOut(CriterionRefOut):
    priority: str
    questions: list[QuestionOut]


class QualifierOut(Schema):
    text: str
    criterion: str
    qualifier: str = Field(
        ..., description="negation, history, family, hypothesis, reported_speech ou explained"
    )


class SuggestOut(Schema):
    suggestions: list[SuggestionOut]
    red_flag: bool
    red_flag_reasons: list[CriterionRefOut] = Field(
        ..., description="Critères du référentiel qui déclenchent l'alerte, le plus grave d'abord."
    )
    candidate_criteria: list[CandidateCriterionOut] = Field(
        ..., description="Critères évoqués sans assez d'éléments : poser leurs questions."
    )
    qualifiers: list[QualifierOut] = Field(
        ..., description="Mentions écartées (niées, antécédents, famille, hypothèse, expliquées)."
    )


class SuggestIn(Schema):
    q: str = Field(..., max_length=500, description="Ce que dit l'appelant, en texte libre.")
    limit: int = Field(5, ge=1, le=10)


@motifs_router.post(
    "/suggest",
    response=SuggestOut,
    summary="Suggérer des motifs CISP-2 et détecter les signes de gravité",
    description="Texte libre en français (fautes, abréviations, mots courants), dans le corps "
    "JSON (jamais dans l'URL : les symptômes n'ont rien à faire dans les journaux). "
    "`red_flag` vrai : proposer le transfert au 15.",
)
def suggest_motifs_post(request, payload: SuggestIn):
    require_api(request, "motifs.read")
    return _suggest_out(motif_suggestions(text=payload.q, limit=payload.limit))


@motifs_router.get(
    "/suggest",
    response=SuggestOut,
    deprecated=True,
    summary="Suggérer des motifs CISP-2 (obsolète : utiliser POST)",
    description="Obsolète : le texte passe dans l'URL. Utiliser `POST /motifs/suggest` avec "
    'un corps JSON `{"q": …}`. La chaîne de requête de cette route est retirée des journaux.',
)
def suggest_motifs(
    request, q: str = Query(..., max_length=500), limit: int = Query(5, ge=1, le=10)
):
    require_api(request, "motifs.read")
    return _suggest_out(motif_suggestions(text=q, limit=limit))


def _suggest_out(result) -> dict:
    return {
        "suggestions": [
            {"code": s.code, "label": s.label, "score": round(s.score, 3)}
            for s in result.suggestions
        ],
        "red_flag": result.red_flag,
        "red_flag_reasons": [
            {"id": cid, "label": label}
            for cid, label in zip(
                getattr(result, "red_flag_criteria", []), result.red_flag_reasons, strict=False
            )
        ],
        "candidate_criteria": [
            {
                "id": crit.id,
                "label": crit.label,
                "priority": crit.priority,
                "questions": [{"id": q.id, "text": q.text} for q in crit.questions],
            }
            for crit in (criterion(cid) for cid in getattr(result, "candidate_criteria", []))
            if crit is not None
        ],
        "qualifiers": list(getattr(result, "qualifiers", [])),
    }


class PatientIn(Schema):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    birth_date: date | None = None
    phone: str = Field("", max_length=20)
    email: str = Field("", max_length=200)
    commune_insee: str = Field(min_length=5, max_length=5)


class RedFlagAnswerIn(Schema):
    question_id: str = Field(min_length=1, max_length=80)
    answer: str = Field(pattern="^(yes|no|unknown)$")


class RequestIn(Schema):
    patient: PatientIn | None = Field(
        None,
        description="Identité et coordonnées de l'appel. Sans `patient_id`, une nouvelle fiche "
        "patient est toujours créée (jamais de rapprochement automatique) ; avec `patient_id`, "
        "seuls `phone` et `email` servent, comme contact de rappel de cette demande.",
    )
    patient_id: UUID | None = Field(
        None,
        description="Patient déjà connu (le `patient_id` d'une demande précédente), du "
        "territoire du client : sa fiche n'est jamais modifiée par l'API.",
    )
    channel: Channel = Channel.PHONE
    motif_code: str | None = Field(None, max_length=5)
    motif_text: str = Field("", max_length=2000)
    urgency: UrgencyBand = UrgencyBand.H12_24
    red_flag_answers: list[RedFlagAnswerIn] = Field(
        default_factory=list,
        max_length=20,
        description="Réponses aux questions de confirmation des signes de gravité posées à "
        "l'appelant (`question_id` du référentiel). Une réponse qui confirme (`yes`, ou "
        "`no` à une question formulée à l'envers, docs/red-flags.md) rend le critère actif.",
    )


class RequestOut(Schema):
    id: UUID
    patient_id: UUID
    reference: str
    status: str
    channel: str
    motif_code: str | None
    motif_label: str | None
    urgency: str
    created_at: datetime
    cpts: str | None
    priority: str
    red_flag: bool
    red_flag_active: bool
    red_flag_criteria: list[str]
    decision: str


def request_out(req) -> dict:
    return {
        "id": req.public_id,
        "patient_id": req.patient.public_id,
        "reference": req.reference,
        "status": req.status,
        "channel": req.channel,
        "motif_code": req.motif.code if req.motif else None,
        "motif_label": req.motif.label if req.motif else None,
        "urgency": req.urgency,
        "created_at": req.created_at,
        "cpts": req.cpts.name if req.cpts else None,
        "priority": req.priority,
        "red_flag": req.red_flag,
        "red_flag_active": req.red_flag_blocks_booking,
        "red_flag_criteria": list(req.red_flag_criteria or []),
        "decision": req.decision,
    }


@router.post("", response={201: RequestOut}, summary="Créer une demande de soins non programmés")
def create_request(request, payload: RequestIn):
    scope = require_api(request, "request.create")
    motif = None
    if payload.motif_code:
        motif = motif_get(code=payload.motif_code)
        if motif is None:
            raise ApplicationError("Code CISP-2 inconnu.", code="unknown_motif")
    client = getattr(request, "api_client", None)
    user = request.auth if client is None else None
    client_name = client.name if client else ""
    given = payload.patient
    with transaction.atomic():
        if payload.patient_id is not None:
            try:
                patient = patient_get_for_scope(scope=scope, public_id=payload.patient_id)
            except Http404:
                raise NotFound("Patient introuvable.", code="patient_not_found") from None
            phone = (given.phone if given else "") or patient.phone
            email = (given.email if given else "") or patient.email
        else:
            if given is None:
                raise ApplicationError(
                    "Indiquez le patient (`patient`) ou un patient connu (`patient_id`).",
                    code="patient_required",
                )
            commune = commune_get(insee=given.commune_insee)
            if commune is None:
                raise ApplicationError("Commune inconnue (code INSEE).", code="unknown_commune")
            patient = patient_create(
                data=PatientInput(
                    first_name=given.first_name,
                    last_name=given.last_name,
                    birth_date=given.birth_date,
                    phone=given.phone,
                    email=given.email,
                    commune=commune,
                ),
                user=user,
                api_client=client_name,
            )
            phone, email = patient.phone, patient.email
        req = request_create(
            patient=patient,
            channel=payload.channel,
            motif=motif,
            motif_text=payload.motif_text,
            urgency=payload.urgency,
            created_by=user,
            scope=scope,
            callback_phone=phone,
            callback_email=email,
            api_client=client_name,
            red_flag_answers={a.question_id: a.answer for a in payload.red_flag_answers}
            if payload.red_flag_answers
            else None,
        )
    return Status(201, request_out(req))


class DecisionIn(Schema):
    decision: Decision
    urgency: UrgencyBand | None = None
    note: str = Field("", max_length=2000)
    lift_reason: str = Field(
        "",
        max_length=300,
        description="Raison de la levée de l'alerte de gravité, obligatoire pour toute "
        "décision autre que `urgences` / `smur` tant que l'alerte est active (sinon 409 "
        "`red_flag_active`).",
    )


@router.post(
    "/{request_id}/decision",
    response=RequestOut,
    summary="Enregistrer la décision du médecin régulateur",
    description="Réservé au médecin régulateur. Tant qu'une alerte de gravité est active, "
    "seules `urgences` et `smur` la confirment ; toute autre décision exige `lift_reason` "
    "(levée tracée), sinon 409 `red_flag_active`.",
)
def decide_request(request, request_id: UUID, payload: DecisionIn):
    scope = require_api(request, "request.decide")
    try:
        req = request_get_for_user(scope=scope, public_id=request_id)
    except Http404:
        raise NotFound("Demande introuvable.") from None
    request_decide(
        request=req,
        user=request.auth if getattr(request, "api_client", None) is None else None,
        decision=payload.decision,
        urgency=payload.urgency,
        note=payload.note,
        lift_reason=payload.lift_reason,
    )
    req.refresh_from_db()
    return request_out(req)


class WorklistItemOut(RequestOut):
    priority: str
    red_flag: bool
    deadline: datetime
    deadline_state: str


@router.get(
    "",
    response=list[WorklistItemOut],
    summary="Liste de travail : demandes à orienter (ou à réguler), par échéance",
    description="Le même ordre que la liste de travail des opérateurs : signes de gravité "
    "non levés et priorités P0/P1 d'abord, puis l'échéance la plus proche (réception + "
    "borne haute du délai), puis la plus ancienne. `deadline_state` : ok, soon (dernier "
    "quart du délai), over (dépassée).",
)
def list_requests(request, status: str = "open", limit: int = 50):
    scope = require_api(request, "request.view")
    if status not in ("open", "to_regulate"):
        raise ApplicationError(
            "Statut de liste inconnu : « open » ou « to_regulate ».", code="unknown_status"
        )
    select = requests_worklist if status == "open" else requests_to_regulate
    found = list(select(scope=scope)[: max(1, min(limit, 200))])
    client = getattr(request, "api_client", None)
    audit_record_reads(
        user=None if client else request.auth,
        api_client=client.name if client else "",
        objects=[r.patient for r in found],
        reason="liste de travail (API)",
    )
    now = timezone.now()
    return [
        {
            **request_out(r),
            "priority": r.priority,
            "red_flag": r.red_flag_blocks_booking,
            "deadline": r.deadline,
            "deadline_state": deadline_state(r, now=now),
        }
        for r in found
    ]


@router.get("/{request_id}", response=RequestOut, summary="Lire une demande")
def get_request(request, request_id: UUID):
    scope = require_api(request, "request.view")
    try:
        req = request_get_for_user(scope=scope, public_id=request_id)
    except Http404:
        raise NotFound("Demande introuvable.") from None
    client = getattr(request, "api_client", None)
    audit_record(
        user=None if client else request.auth,
        api_client=client.name if client else "",
        action="read",
        obj=req,
    )
    return request_out(req)
