"""Writes of the Hub Santé connector (issue 21, docs/hub-sante.md).

Receive: an RS-EDA (createCaseHealth) of perimeter SNP becomes a Relais request through
the same services as every other door (regulation's patient_create / request_create: the
motif coded by the shared matcher, the red-flag safety net routing to the régulateur);
acknowledged with an RC-REF. Every received message is stored first (HubInbound), in the
transaction that acts on it: a duplicated distributionID acts once, a malformed, refused
or expired one is kept and answered with the Hub's RS-ERROR.

Report back: every booking change of such a request (orientation's booking_changed,
inside the booking's transaction) queues one RS-SAS-RDV to the LRM that sent the case.
The outbox (HubOutbound) is published by `relais hub_consumer` in order per booking,
retried with backoff, then "failed" on the failures page."""

import base64
import hashlib
import logging
import re
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from relais.core.errors import ApplicationError
from relais.directory.models import Professional
from relais.interop.hub import messages as m
from relais.interop.models import (
    HubCase,
    HubInbound,
    HubInboundStatus,
    HubOutbound,
    ReportStatus,
)
from relais.orientation.models import Booking
from relais.regulation.models import Channel, Motif, Sex
from relais.regulation.services import (
    WEB_AUTO_CODE_MIN_SCORE,
    PatientInput,
    patient_create,
    request_create,
)
from relais.territory.models import Commune

logger = logging.getLogger(__name__)

QUEUES = ("message", "ack", "info")
HUB_SEX = {"M": Sex.MALE, "F": Sex.FEMALE, "O": Sex.UNKNOWN, "UN": Sex.UNKNOWN}


def client_id() -> str:
    return settings.RELAIS_HUB_CLIENT_ID


def _queue(*, recipient: str, use_case: str, content: dict, kind: str, **fields) -> HubOutbound:
    envelope = m.envelope_build(
        sender_id=client_id(),
        recipient_id=recipient,
        use_case=use_case,
        content=content,
        kind=kind,
        status=settings.RELAIS_HUB_DISTRIBUTION_STATUS,
        ttl_seconds=settings.RELAIS_HUB_TTL_SECONDS,
    )
    return HubOutbound.objects.create(
        distribution_id=envelope["distributionID"],
        recipient_id=recipient,
        use_case=use_case,
        envelope=envelope,
        **fields,
    )


def _queue_reference(received: m.Received) -> HubOutbound:
    return _queue(
        recipient=received.sender_id,
        use_case="reference",
        content=m.reference_content(received.distribution_id),
        kind="Ack",
    )


def _queue_error(*, recipient: str, status: str, cause: str, referenced: str, source) -> None:
    if not recipient or recipient == client_id():
        return  # unknown sender (unreadable body): kept for inspection, nobody to answer
    _queue(
        recipient=recipient,
        use_case="error",
        content=m.error_content(status=status, cause=cause, referenced=referenced, source=source),
        kind="Error",
    )


# --- Receiving --------------------------------------------------------------------


def stored_body(body: bytes) -> str:
    """The body as received, losslessly: UTF-8 text as is; anything else (invalid UTF-8,
    NUL bytes, which PostgreSQL text refuses) as "base64:" + its base64."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return "base64:" + base64.b64encode(body).decode("ascii")
    return text


class CaseRefused(Exception):
    def __init__(self, status: str, cause: str):
        super().__init__(cause)
        self.status = status
        self.cause = cause


def inbound_handle(*, body: bytes, queue: str, now: datetime | None = None) -> HubInbound:
    """One delivery from one of our queues, in one transaction. Returns its stored row
    (the first one when the message is a duplicate). Answers go to the outbox."""
    now = now or timezone.now()
    digest = hashlib.sha256(body).hexdigest()
    text = stored_body(body)
    with transaction.atomic():
        try:
            received = m.parse(body)
        except m.MessageRefused as exc:
            return _inbound_malformed(exc, queue=queue, digest=digest, text=text, now=now)
        first = (
            HubInbound.objects.select_for_update()
            .filter(distribution_id=received.distribution_id)
            .first()
        )
        if first is not None:
            HubInbound.objects.filter(pk=first.pk).update(duplicates=first.duplicates + 1)
            if first.status == HubInboundStatus.INTEGRATED:
                _queue_reference(received)  # its acknowledgement may have been lost
            return first
        row = HubInbound(
            distribution_id=received.distribution_id,
            body_sha256=digest,
            sender_id=received.sender_id,
            queue=queue,
            use_case=received.use_case,
            body=text,
            received_at=now,
        )
        if received.expired(now):
            cause = (
                f"Message {received.distribution_id} expired "
                f"({received.envelope['dateTimeExpires']}) before Relais read it."
            )
            return _refuse(row, received, "EXPIRED_MESSAGE_BEFORE_ROUTING", cause, answer=queue)
        if received.use_case == "reference":
            _outbound_acknowledged(received.content["distributionID"], now=now)
            row.status = HubInboundStatus.RECORDED
        elif received.use_case == "error":
            _outbound_refused(received.content)
            row.status = HubInboundStatus.RECORDED
            row.error_code = int(received.content["errorCode"]["statusCode"])
            row.error_cause = received.content["errorCause"][:1000]
        elif received.use_case == "createCaseHealth":
            try:
                with transaction.atomic():
                    row.status = HubInboundStatus.INTEGRATED
                    row.save()
                    _case_create(row, received)
                    _queue_reference(received)
            except CaseRefused as exc:
                row.pk = None
                return _refuse(row, received, exc.status, exc.cause, answer=queue)
            return row
        else:  # a model Relais validates but does not take (an appointment sent to us)
            cause = f"Relais does not take {received.use_case} messages."
            return _refuse(row, received, "SCHEMA_NOT_FOUND", cause, answer=queue)
        row.save()
        return row


def _inbound_malformed(exc: m.MessageRefused, *, queue, digest, text, now) -> HubInbound:
    distribution_id = exc.distribution_id or None
    lookup = (
        {"distribution_id": distribution_id}
        if distribution_id
        else {"body_sha256": digest, "distribution_id__isnull": True}
    )
    first = HubInbound.objects.select_for_update().filter(**lookup).first()
    if first is not None:
        HubInbound.objects.filter(pk=first.pk).update(duplicates=first.duplicates + 1)
        return first
    row = HubInbound.objects.create(
        distribution_id=distribution_id,
        body_sha256=digest,
        sender_id=exc.sender_id[:255],
        queue=queue,
        status=HubInboundStatus.MALFORMED,
        error_code=exc.code,
        error_cause=exc.cause,
        body=text,
        received_at=now,
    )
    if queue == "message":  # never answer an answer (ack / info) with an error
        _queue_error(
            recipient=exc.sender_id,
            status=exc.status,
            cause=exc.cause,
            referenced=exc.distribution_id,
            source=exc.envelope,
        )
    logger.warning("Hub message %s refused: %s (%s)", row.pk, exc.status, exc.code)
    return row


def _refuse(row: HubInbound, received: m.Received, status: str, cause: str, *, answer: str):
    row.status = (
        HubInboundStatus.EXPIRED
        if status == "EXPIRED_MESSAGE_BEFORE_ROUTING"
        else HubInboundStatus.REFUSED
    )
    row.error_code = m.ERROR_CODES[status]
    row.error_cause = cause[:1000]
    row.save()
    if answer == "message":
        _queue_error(
            recipient=received.sender_id,
            status=status,
            cause=cause,
            referenced=received.distribution_id,
            source=received.envelope,
        )
    logger.info("Hub message %s refused: %s", row.pk, status)
    return row


def _outbound_acknowledged(distribution_id: str, *, now) -> None:
    HubOutbound.objects.filter(distribution_id=distribution_id, acked_at__isnull=True).update(
        acked_at=now
    )


def _outbound_refused(error: dict) -> None:
    """The recipient (or the Hub) refused one of ours: it shows on the failures page."""
    code = int(error["errorCode"]["statusCode"])
    HubOutbound.objects.filter(distribution_id=error["referencedDistributionID"]).update(
        status=ReportStatus.FAILED,
        refused_code=code,
        last_error=f"{code} {error['errorCode']['statusString']}: {error['errorCause']}"[:300],
    )


def _text(*parts) -> str:
    """One sentence per part: a negation of one ("non urgent") never reaches the next
    one for the matcher (joined by a dash, "non urgent — douleur thoracique" hid the
    red flag)."""
    return ".\n".join(
        p.strip().rstrip(".") for p in parts if isinstance(p, str) and p.strip().rstrip(".")
    )


def _case_create(row: HubInbound, received: m.Received) -> None:
    case = received.content
    if case.get("perimeter") != "SNP":
        raise CaseRefused(
            "INSUFFICIENT_DATA",
            f"Relais takes SNP cases only (perimeter {case.get('perimeter') or 'absent'}).",
        )
    if HubCase.objects.filter(sender_id=received.sender_id, case_id=case["caseId"]).exists():
        raise CaseRefused("CASE_ALREADY_EXISTS", f"Case {case['caseId']} was already received.")
    patients = case.get("patient") or []
    if len(patients) != 1:
        raise CaseRefused("INSUFFICIENT_DATA", "An SNP case needs exactly one patient.")
    patient_in = patients[0]
    identity = patient_in.get("identity") or {}
    strict = identity.get("strictFeatures") or {}
    names = identity.get("nonStrictFeatures") or {}
    last = (names.get("lastName") or strict.get("birthName") or "").strip()
    first = (names.get("firstName") or "").strip()
    if not last or not first:
        raise CaseRefused("INSUFFICIENT_DATA", "The patient's last and first names are needed.")
    insee = ((case.get("location") or {}).get("city") or {}).get("inseeCode") or ""
    commune = Commune.objects.select_related("departement").filter(insee=insee).first()
    if commune is None:
        raise CaseRefused("INSUFFICIENT_DATA", f"Unknown commune (INSEE {insee or 'absent'}).")
    birth_date = None
    if strict.get("birthDate"):
        try:
            birth_date = date.fromisoformat(strict["birthDate"])
        except ValueError:
            raise CaseRefused("INSUFFICIENT_DATA", "birthDate is not a date.") from None
    alert = case.get("initialAlert") or {}
    caller = alert.get("caller") or {}
    phone = ""
    for contact in (caller.get("callbackContact"), caller.get("callerContact")):
        if contact and contact.get("type") == "TEL" and contact.get("detail"):
            phone = contact["detail"]
            break
    gp = ((patient_in.get("administrativeFile") or {}).get("generalPractitioner")) or {}
    medecin = None
    if gp.get("rppsId"):
        rpps = gp["rppsId"][-11:] if len(gp["rppsId"]) == 12 else gp["rppsId"]
        medecin = Professional.objects.filter(rpps=rpps).first()
    qualification = case.get("qualification") or {}
    motif_text = (
        _text(
            *[note.get("freetext") for note in alert.get("notes") or []],
            *[note.get("freetext") for note in case.get("medicalNote") or []],
            (qualification.get("healthMotive") or {}).get("label"),
            (qualification.get("whatsHappen") or {}).get("label"),
        )[:2000]
        or f"Affaire reçue de {received.sender_id} (Hub Santé)"
    )
    try:
        patient = patient_create(
            data=PatientInput(
                first_name=first[:100],
                last_name=last[:100],
                birth_date=birth_date,
                phone=phone[:30],
                commune=commune,
                medecin_traitant=medecin,
            ),
            api_client=f"hub:{received.sender_id}"[:100],
        )
        # INS traits as the LRM gave them; the identity stays provisional (never
        # "qualifiée" on another software's word: identitovigilance, docs/hub-sante.md).
        patient.birth_name = (strict.get("birthName") or "")[:100]
        patient.sex = HUB_SEX.get(strict.get("sex") or "", "")
        patient.save(update_fields=["birth_name", "sex"])
        from relais.regulation.matching import get_matcher

        motif = None
        best = get_matcher().match(motif_text[:1000], limit=1).suggestions
        if best and best[0].score >= WEB_AUTO_CODE_MIN_SCORE:
            motif = Motif.objects.filter(code=best[0].code).first()
        req = request_create(
            patient=patient,
            channel=Channel.PHONE,
            motif=motif,
            motif_text=motif_text,
            callback_phone=phone[:30],
            callback_email="",
            api_client=f"hub:{received.sender_id}"[:100],
        )
    except ApplicationError as exc:
        raise CaseRefused("INSUFFICIENT_DATA", exc.message) from None
    HubCase.objects.create(
        request=req,
        inbound=row,
        sender_id=received.sender_id,
        case_id=case["caseId"],
        sender_case_id=case.get("senderCaseId") or "",
        patient_id=patient_in.get("patientId") or "",
    )


# --- Reporting back (RS-SAS-RDV) -----------------------------------------------------

RPPS_ID = re.compile(r"^81[0-9]{10}$")
PRACTICE_CATEGORY = {"msp": "MSP", "cpts": "CPTS", "sos": "SOS"}


def appointment_content(booking: Booking, *, method: str) -> dict:
    slot = booking.slot
    pro = slot.professional
    operator = booking.operator
    content = {
        "appointmentId": str(booking.public_id),
        "method": method,
        "created": m.instant(booking.created_at),
        "status": booking.status,
        "orientationCategory": PRACTICE_CATEGORY.get(pro.participation_mode, "PS"),
        "start": m.instant(slot.start),
        "end": m.instant(slot.end),
        "regulator": {
            "regulatorName": (operator.last_name if operator else "") or "SAS",
            "regulatorFirstname": (operator.first_name if operator else "") or "Relais",
            "regulatorEmail": (operator.email if operator else "")
            or settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">"),
        },
    }
    if RPPS_ID.match("8" + (pro.rpps or "")):  # the model's national id: 8 + RPPS
        content["practitioner"] = {
            "rppsId": "8" + pro.rpps,
            "lastName": pro.last_name,
            "firstName": pro.first_name,
        }
    return content


def booking_changed(*, booking: Booking) -> HubOutbound | None:
    """orientation's booking_changed subscriber: one RS-SAS-RDV per status of a booking
    of a request received from the Hub, queued in the booking's transaction."""
    case = HubCase.objects.filter(request_id=booking.request_id).first()
    if case is None:
        return None
    booking = Booking.objects.select_related("slot__professional", "operator").get(pk=booking.pk)
    last = HubOutbound.objects.filter(booking=booking).order_by("-pk").first()
    if last is not None and last.appointment_status == booking.status:
        return None  # published again without a change of status: nothing new to say
    method = "UpdateAppointment" if last is not None else "CreateAppointment"
    return _queue(
        recipient=case.sender_id,
        use_case="appointment",
        content=appointment_content(booking, method=method),
        kind="Update" if last is not None else "Report",
        booking=booking,
        case=case,
        appointment_status=booking.status,
    )


# --- The outbox ----------------------------------------------------------------------


def outbox_due(*, now: datetime | None = None, limit: int = 100) -> list[HubOutbound]:
    """Pending messages whose turn has come, oldest first; a booking's later report
    waits while an earlier one of the same booking is still pending (its retry not due
    yet). The publisher also stops at a booking's first failure in one pass."""
    now = now or timezone.now()
    rows = list(
        HubOutbound.objects.filter(status=ReportStatus.PENDING)
        .exclude(next_attempt_at__gt=now)
        .order_by("pk")[:limit]
    )
    taken = {row.pk for row in rows}
    out, waiting = [], set()
    for row in rows:
        if row.booking_id:
            if row.booking_id in waiting:
                continue
            earlier = (
                HubOutbound.objects.filter(
                    booking_id=row.booking_id, status=ReportStatus.PENDING, pk__lt=row.pk
                )
                .exclude(pk__in=taken)
                .exists()
            )
            if earlier:
                waiting.add(row.booking_id)
                continue
        out.append(row)
    return out


def outbox_sent(row: HubOutbound) -> None:
    HubOutbound.objects.filter(pk=row.pk, status=ReportStatus.PENDING).update(
        status=ReportStatus.SENT,
        attempts=row.attempts + 1,
        sent_at=timezone.now(),
        last_error="",
        next_attempt_at=None,
    )


def outbox_attempt_failed(row: HubOutbound, error: str) -> str:
    attempts = row.attempts + 1
    if attempts >= settings.RELAIS_HUB_MAX_ATTEMPTS:
        status, next_at = ReportStatus.FAILED, None
    else:
        status = ReportStatus.PENDING
        next_at = timezone.now() + timedelta(
            seconds=settings.RELAIS_HUB_RETRY_SECONDS * 2 ** (attempts - 1)
        )
    HubOutbound.objects.filter(pk=row.pk).update(
        status=status, attempts=attempts, last_error=error[:300], next_attempt_at=next_at
    )
    logger.warning("Hub message %s not sent (attempt %s): %s", row.pk, attempts, error[:200])
    return status


def outbox_retry(*, row: HubOutbound, user) -> None:
    """From the failures page: queue it again from a fresh attempt count (same
    distributionID: a recipient that got it already recognises it)."""
    from relais.audit.services import audit_record

    with transaction.atomic():
        updated = HubOutbound.objects.filter(pk=row.pk, status=ReportStatus.FAILED).update(
            status=ReportStatus.PENDING, attempts=0, next_attempt_at=None, refused_code=None
        )
        if not updated:
            raise ApplicationError("Ce message n'est plus en échec.")
        audit_record(user=user, action="update", obj=row, reason="hub_retry")
