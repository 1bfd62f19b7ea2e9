"""Writes for the FHIR interface. Every booking goes through the orientation services
(booking_create / booking_cancel / booking_record_outcome): one booking rule for all."""

import hashlib
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from relais.accounts.permissions import Scope
from relais.agenda.models import Modality, Slot, SlotStatus
from relais.agenda.selectors import slot_get
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError, Conflict, NotFound
from relais.directory.models import Professional
from relais.interop import resources as r
from relais.interop.models import PartnerSource, ReportStatus, SasReport
from relais.interop.selectors import BadParameter
from relais.orientation.models import Booking, BookingChannel, BookingStatus
from relais.orientation.selectors import available_q, channels_q, request_in_scope
from relais.orientation.services import (
    SYSTEM,
    SlotUnavailable,
    booking_cancel,
    booking_create,
    booking_record_outcome,
    caller_scope,
    slot_check_eligible,
    slot_open_channels,
)
from relais.regulation.models import Channel, Motif, RequestStatus, UrgencyBand
from relais.regulation.services import PatientInput, request_create
from relais.territory.geo import search_key
from relais.territory.models import Commune

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 10
REPORT_MAX_ATTEMPTS = 6
REPORT_BACKOFF_SECONDS = 60  # 60 s, 2 min, 4 min, 8 min, 16 min, then "failed"


class Unprocessable(ApplicationError):
    """Well-formed FHIR that Relais cannot act on (FHIR 422)."""

    code = "unprocessable"
    http_status = 422


# --- Appointments received (POST / PUT / GET /fhir/Appointment) -----------------


def client_owner(client) -> str:
    """Idempotency owner shared with the JSON API: a client sees its own bookings."""
    return f"client:{client.pk}"


def identifier_key(system: str, value: str) -> str:
    raw = f"fhir:{system}|{value}"
    if len(raw) <= 100:
        return raw
    return "fhir:sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def parse_identifier_param(raw: str) -> tuple[str, str]:
    system, sep, value = raw.rpartition("|")
    if not value:
        raise BadParameter("Paramètre « identifier » invalide (attendu system|value).")
    return (system if sep else ""), value


@dataclass
class AppointmentIn:
    key: str
    identifier: dict
    slot_public_id: str
    patient: PatientInput | None
    patient_address: tuple[str, str]
    motif: Motif | None
    motif_text: str
    patient_ref: str | None = None


def _urgency_for(start: datetime, now: datetime) -> str:
    hours = (start - now).total_seconds() / 3600
    for band in UrgencyBand:
        if hours <= band.max_hours:
            return band.value
    return UrgencyBand.H24_48.value


def _commune_for(postal_code: str, city: str) -> Commune | None:
    if not postal_code:
        return None
    candidates = list(
        Commune.objects.filter(postal_codes__contains=postal_code.strip()).order_by("-population")[
            :20
        ]
    )
    wanted = search_key(city) if city else ""
    for commune in candidates:
        if wanted and commune.search_name == wanted:
            return commune
    return candidates[0] if candidates else None


def parse_appointment(payload: dict) -> AppointmentIn:
    """Map a received Appointment to Relais (see docs in relais/interop/README.md).

    - identifier[0] (system|value): the caller's id, the idempotency key;
    - slot[0].reference = Slot/<Relais slot id>;
    - the patient: a contained Patient (name, birthDate, telecom, address) referenced by
      a participant `#id`;
    - reasonCode: CISP-2 coding and/or text, else `description`.
    """
    from fhir.resources.R4B.appointment import Appointment

    if not isinstance(payload, dict) or payload.get("resourceType") != "Appointment":
        raise BadParameter("Le corps doit être une ressource Appointment.")
    try:
        Appointment.model_validate(payload)
    except Exception as exc:  # noqa: BLE001 - pydantic error text is returned to the caller
        raise BadParameter(f"Appointment invalide : {str(exc)[:300]}") from None
    if payload.get("status") not in APPOINTMENT_STATUSES:
        raise BadParameter("Appointment.status invalide.")
    if payload["status"] not in ("booked", "pending", "proposed"):
        raise Unprocessable("Un rendez-vous se crée au statut « booked ».")
    identifiers = [i for i in payload.get("identifier") or [] if i.get("value")]
    if not identifiers:
        raise BadParameter("Appointment.identifier est obligatoire (clé d'idempotence).")
    ident = {"system": identifiers[0].get("system") or "", "value": identifiers[0]["value"]}
    refs = [s.get("reference") or "" for s in payload.get("slot") or []]
    if len(refs) != 1 or not refs[0].startswith("Slot/"):
        raise BadParameter("Appointment.slot doit référencer un seul créneau (Slot/<id>).")
    patient_ref = _referenced_patient_id(payload)
    patient, address = _contained_patient(payload, required=patient_ref is None)
    motif, motif_text = None, ""
    for reason in payload.get("reasonCode") or []:
        for coding in reason.get("coding") or []:
            if coding.get("system") == r.SYSTEM_CISP2 and coding.get("code"):
                motif = Motif.objects.filter(code__iexact=coding["code"]).first() or motif
        motif_text = motif_text or (reason.get("text") or "")
    motif_text = motif_text or payload.get("description") or ""
    return AppointmentIn(
        key=identifier_key(ident["system"], ident["value"]),
        identifier=ident,
        slot_public_id=refs[0].removeprefix("Slot/"),
        patient=patient,
        patient_address=address,
        motif=motif,
        motif_text=motif_text[:500],
        patient_ref=patient_ref,
    )


def _referenced_patient_id(payload: dict) -> str | None:
    """A participant pointing at a Relais patient (`Patient/<id>`, the reference our
    Appointments carry), if any."""
    for participant in payload.get("participant") or []:
        ref = (participant.get("actor") or {}).get("reference", "")
        if isinstance(ref, str) and ref.startswith("Patient/"):
            return ref.removeprefix("Patient/")
    return None


def fhir_patient_for(*, scope: Scope, data: "AppointmentIn", client=None):
    """The patient of a received Appointment and the callback contact of this request.

    A participant `Patient/<id>` takes up that Relais patient only if it is in the
    client's territory (else 404, as for an unknown one); otherwise a NEW record is
    always created from the contained Patient: no matching on names or birth date, and
    an existing record's contact details are never changed through FHIR."""
    from django.http import Http404

    from relais.regulation.selectors import patient_get_for_scope
    from relais.regulation.services import patient_create

    given = data.patient
    if data.patient_ref:
        try:
            patient = patient_get_for_scope(scope=scope, public_id=data.patient_ref)
        except (Http404, ValueError, DjangoValidationError):
            raise NotFound("Patient introuvable.") from None
        phone = (given.phone if given else "") or patient.phone
        email = (given.email if given else "") or patient.email
        return patient, phone, email
    patient = patient_create(data=given, api_client=client.name if client else "")
    return patient, patient.phone, patient.email


def _contained_patient(payload: dict, *, required: bool = True):
    contained = {
        c.get("id"): c for c in payload.get("contained") or [] if c.get("resourceType") == "Patient"
    }
    patient = None
    for participant in payload.get("participant") or []:
        ref = (participant.get("actor") or {}).get("reference") or ""
        if ref.startswith("#") and ref[1:] in contained:
            patient = contained[ref[1:]]
    if patient is None and contained:
        patient = next(iter(contained.values()))
    if patient is None:
        if not required:
            return None, ("", "")
        raise Unprocessable("Le patient doit être fourni en ressource Patient contenue.")
    names = patient.get("name") or [{}]
    family = names[0].get("family") or ""
    given = " ".join(g for g in names[0].get("given") or [] if isinstance(g, str) and g)
    if not family or not given:
        raise Unprocessable("Nom et prénom du patient obligatoires (Patient.name).")
    try:
        birth = parse_date(patient["birthDate"]) if patient.get("birthDate") else None
    except ValueError:
        raise BadParameter("Patient.birthDate invalide.") from None
    phone = email = ""
    for telecom in patient.get("telecom") or []:
        if telecom.get("system") == "phone" and not phone:
            phone = telecom.get("value") or ""
        if telecom.get("system") == "email" and not email:
            email = telecom.get("value") or ""
    addresses = patient.get("address") or [{}]
    address = (addresses[0].get("postalCode") or "", addresses[0].get("city") or "")
    _check_patient_lengths(
        family=family, given=given, phone=phone, email=email, postal=address[0], city=address[1]
    )
    data = PatientInput(
        first_name=given, last_name=family, birth_date=birth, phone=phone, email=email, commune=None
    )
    return data, address


# Longest values a contained Patient may carry, checked before the database (PostgreSQL
# answered an over-long one with a DataError, then a 500): the Patient model's columns.
PATIENT_FIELD_LIMITS = {
    "family": ("Patient.name.family", 100),
    "given": ("Patient.name.given", 100),
    "phone": ("Patient.telecom (phone)", 20),
    "email": ("Patient.telecom (email)", 254),
    "postal": ("Patient.address.postalCode", 10),
    "city": ("Patient.address.city", 100),
}


def _check_patient_lengths(**values: str) -> None:
    for key, value in values.items():
        label, limit = PATIENT_FIELD_LIMITS[key]
        if not isinstance(value, str):
            raise BadParameter(f"{label} doit être une chaîne de caractères.")
        if len(value) > limit:
            raise Unprocessable(f"{label} trop long ({limit} caractères au plus).")


def _replay(owner: str, key: str, slot_public_id: str) -> Booking | None:
    previous = (
        Booking.objects.filter(idempotency_owner=owner, idempotency_key=key)
        .select_related("slot__professional", "request__patient")
        .first()
    )
    if previous is None:
        return None
    if str(previous.slot.public_id) != slot_public_id:
        raise Conflict(
            "Cet identifiant a déjà servi pour un autre rendez-vous.",
            code="idempotency_key_reused",
        )
    return previous


def appointment_book(*, client, scope: Scope, payload: dict) -> tuple[Booking, bool]:
    """POST /fhir/Appointment. Returns (booking, created). Replays return the booking."""
    data = parse_appointment(payload)
    owner = client_owner(client)
    previous = _replay(owner, data.key, data.slot_public_id)
    if previous is not None:
        return previous, False
    try:
        slot = slot_get(public_id=data.slot_public_id)
    except Exception:  # noqa: BLE001 - a malformed UUID is a missing slot
        slot = None
    if slot is None:
        raise NotFound("Créneau introuvable.")
    # Territory and channel of the national SAS platform, before anything is parsed or
    # created for the patient; booking_create checks again, and atomically.
    slot_open_channels(slot=slot, scope=scope, channel=BookingChannel.FHIR)
    if slot.is_partner_mirror:
        # A slot mirrored from a partner's agenda is taken only once the partner confirmed
        # (partner_slot_book, as from the console and the JSON API), never behind the
        # partner's back where the same hour could be given twice; booked elsewhere
        # (WALKIN, no booking call, source off): PartnerHandover with the partner's link.
        partner_booking_route(slot=slot)
    if data.patient is not None:
        data.patient.commune = _commune_for(*data.patient_address) or slot.practice.commune
    try:
        with transaction.atomic():
            # The request is created in the same transaction as the booking: if the slot
            # is taken meanwhile, no orphan request is left in the operators' worklist.
            patient, phone, email = fhir_patient_for(scope=scope, data=data, client=client)
            req = request_create(
                patient=patient,
                callback_phone=phone,
                callback_email=email,
                channel=Channel.PHONE,
                motif=data.motif,
                motif_text=data.motif_text or f"Orientation reçue de {client.name} (FHIR)",
                urgency=_urgency_for(slot.start, timezone.now()),
                scope=scope,
                api_client=client.name,
            )
            if slot.is_partner_mirror:
                # The partner is asked inside this transaction: refused, nothing stays
                # (no request in the worklist), the mirror is then closed below.
                booking = partner_slot_book(
                    request=req,
                    slot=slot,
                    scope=scope,
                    api_client=client.name,
                    idempotency_key=data.key,
                    idempotency_owner=owner,
                )
            else:
                booking = booking_create(
                    request=req,
                    slot=slot,
                    channel=BookingChannel.FHIR,
                    idempotency_key=data.key,
                    idempotency_owner=owner,
                    scope=scope,
                    api_client=client.name,
                )
    except PartnerRefused:
        _partner_close_refused(slot=slot, source_name=slot.source, api_client=client.name)
        raise
    except Conflict as exc:
        if exc.code != "idempotency_key_reused":
            raise
        # Two concurrent POSTs with the same identifier: the other one won.
        previous = _replay(owner, data.key, data.slot_public_id)
        if previous is None:
            raise
        return previous, False
    return booking, True


APPOINTMENT_STATUSES = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}
FHIR_TO_OUTCOME = {"fulfilled": BookingStatus.FULFILLED, "noshow": BookingStatus.NOSHOW}


def appointment_set_status(
    *, booking: Booking, payload: dict, scope: Scope, client_name: str = ""
) -> Booking:
    """PUT /fhir/Appointment?identifier=…: the same effects as in the operator UI, with
    the same checks against the client's scope: a cancellation needs the request's
    territory; an outcome (vu / non venu) is the professional's alone, so a client's
    fulfilled / noshow is refused (403)."""
    if not isinstance(payload, dict) or payload.get("resourceType") != "Appointment":
        raise BadParameter("Le corps doit être une ressource Appointment.")
    status = payload.get("status")
    if status == booking.status:
        return booking  # idempotent
    if status in FHIR_TO_OUTCOME:
        return booking_record_outcome(booking=booking, outcome=FHIR_TO_OUTCOME[status], scope=scope)
    if status == "cancelled":
        reason = (payload.get("cancelationReason") or {}).get("text", "")
        return booking_cancel(
            booking=booking,
            reason=(reason or "annulé via FHIR")[:200],
            scope=scope,
            api_client=client_name,
        )
    raise Unprocessable(f"Statut non pris en charge : {status!r} (fulfilled, noshow ou cancelled).")


# --- INT_R03: reporting appointments to the national SAS platform ---------------


def appointment_report_enqueue(*, booking: Booking) -> SasReport | None:
    """Queue a POST (first message) or PUT (any later status) of the Appointment to the
    SAS platform. Call it inside the booking transaction: the task row is written in
    that transaction, so nothing is sent for a booking that rolled back."""
    if not getattr(settings, "RELAIS_SAS_FHIR_URL", ""):
        return None
    booking = Booking.objects.select_related("slot__professional", "request__patient").get(
        pk=booking.pk
    )
    method = "PUT" if SasReport.objects.filter(booking=booking).exists() else "POST"
    report = SasReport.objects.create(
        booking=booking,
        method=method,
        appointment_status=booking.status,
        payload=r.appointment_resource(booking, report=True),
    )
    _queue_report(report.pk)
    return report


def _queue_report(report_id: int, *, delay_seconds: int = 0) -> None:
    from relais.core.queue import enqueue

    run_after = timezone.now() + timedelta(seconds=delay_seconds) if delay_seconds else None
    enqueue("relais.interop.tasks.deliver_sas_report", report_id, run_after=run_after)


def sas_tls_context():
    """The TLS context of the calls to the SAS platform: our client certificate
    (RELAIS_SAS_CLIENT_CERT/KEY) and the platform's CA (RELAIS_SAS_CA); None when no
    certificate is configured (default verification, bearer token only)."""
    import ssl

    if not settings.RELAIS_SAS_CLIENT_CERT:
        return None
    context = ssl.create_default_context(cafile=settings.RELAIS_SAS_CA or None)
    context.load_cert_chain(settings.RELAIS_SAS_CLIENT_CERT, settings.RELAIS_SAS_CLIENT_KEY or None)
    return context


def _http(method: str, url: str, *, token: str = "", body: dict | None = None, tls_context=None):
    """(status, parsed JSON or None). Network errors raise OSError."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - configured URL
    req.add_header("Accept", "application/fhir+json")
    if data is not None:
        req.add_header("Content-Type", "application/fhir+json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT, context=tls_context) as resp:  # noqa: S310
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, parsed


def sas_report_deliver(*, report_id: int) -> str:
    with transaction.atomic():
        report = (
            SasReport.objects.select_for_update()
            .filter(pk=report_id, status=ReportStatus.PENDING)
            .first()
        )
        if report is None:
            return "skipped"
        earlier = SasReport.objects.filter(
            booking_id=report.booking_id, status=ReportStatus.PENDING, pk__lt=report.pk
        ).exists()
        if earlier:  # keep POST before PUT, and PUTs in order
            _queue_report(report.pk, delay_seconds=30)
            return "deferred"
        base = settings.RELAIS_SAS_FHIR_URL.rstrip("/")
        url = f"{base}/Appointment"
        if report.method == "PUT":
            url += "?identifier=" + urllib.parse.quote(
                f"{report.payload['identifier'][0]['system']}|{report.payload['id']}", safe=""
            )
        report.attempts += 1
        try:
            status, _ = _http(
                report.method,
                url,
                token=getattr(settings, "RELAIS_SAS_FHIR_TOKEN", ""),
                body=report.payload,
                tls_context=sas_tls_context(),
            )
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except OSError as exc:
            status, error = None, f"{exc.__class__.__name__}: {exc}"
        report.response_status = status
        if not error:
            report.status = ReportStatus.SENT
            report.sent_at = timezone.now()
            report.last_error = ""
            outcome = "sent"
        else:
            report.last_error = error[:300]
            permanent = status is not None and 400 <= status < 500 and status not in (408, 429)
            if permanent or report.attempts >= REPORT_MAX_ATTEMPTS:
                report.status = ReportStatus.FAILED
                report.next_attempt_at = None
            else:
                delay = REPORT_BACKOFF_SECONDS * 2 ** (report.attempts - 1)
                report.next_attempt_at = timezone.now() + timedelta(seconds=delay)
                _queue_report(report.pk, delay_seconds=delay)
            logger.warning(
                "SAS report %s failed (attempt %s): %s", report.pk, report.attempts, error
            )
            outcome = "failed"
        report.save()
        return outcome


def sas_report_retry(*, report: SasReport) -> None:
    """From the failures page: send again, from a fresh attempt count."""
    with transaction.atomic():
        updated = SasReport.objects.filter(pk=report.pk, status=ReportStatus.FAILED).update(
            status=ReportStatus.PENDING, attempts=0, next_attempt_at=None
        )
        if not updated:
            raise ApplicationError("Ce compte rendu n'est plus en échec.")
        _queue_report(report.pk)


# --- Aggregation of partner booking software -------------------------------------
#
# A partner (an agenda software implementing the SAS Slot search, INT_R01) is polled on
# a schedule (partners_poll_due, the worker's `poll_partners` task, deploy/systemd/
# relais-partners.timer); its free slots are mirrored as Slot rows at the partner's own
# Location (a Practice found or created for it, PartnerLocation), with the partner's
# booking link and appointment type kept beside them (PartnerSlot). A mirror is never
# booked in Relais without the partner's confirmation, whatever the door: the console
# and the JSON API (booking_place) and our own FHIR POST /fhir/Appointment all go
# through partner_slot_book; a partner without a booking call, or a WALKIN plage, is
# handed over by its booking link (PartnerHandover), never booked here.

SERVICE_TYPE_MODALITY = {
    # v3-ActCode, as in Relais's own Slots (resources.MODALITY_SERVICE_TYPE)...
    "AMB": Modality.CABINET,
    "HH": Modality.VISITE,
    "VR": Modality.TELECONSULTATION,
    # ... and the words a partner may put in serviceType.text or a display.
    "teleconsultation": Modality.TELECONSULTATION,
    "téléconsultation": Modality.TELECONSULTATION,
    "visite": Modality.VISITE,
    "domicile": Modality.VISITE,
}
EXT_BOOKING_DEEP_LINK = (
    "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
)


class PartnerHandover(ApplicationError):
    """This mirrored slot is booked at the partner, not in Relais: the booking link is
    given instead (`extra["deep_link"]`)."""

    code = "partner_handover"
    http_status = 409

    def __init__(self, message: str, *, deep_link: str = ""):
        if deep_link:
            message = f"{message} Lien de réservation : {deep_link}"
        super().__init__(message, extra={"deep_link": deep_link})
        self.deep_link = deep_link


class PartnerRefused(SlotUnavailable):
    """The partner did not confirm the slot (refusal or no answer)."""


def professionals_of_sas(sas_ids):
    """Active professionals of SAS territories: a practice in the SAS's département, or
    their CPTS in that SAS (as orientation.selectors.professional_in_sas_scope)."""
    from django.db.models import Q

    return Professional.objects.filter(active=True).filter(
        Q(cpts__sas_id__in=list(sas_ids))
        | Q(practices__commune__departement__sas__id__in=list(sas_ids))
    )


def _partner_rpps(source: PartnerSource) -> list[str]:
    if source.rpps:
        return [str(x) for x in source.rpps]
    pros = Professional.objects.filter(active=True)
    if source.sas_id is not None:
        pros = professionals_of_sas([source.sas_id])
    return list(pros.order_by("rpps").values_list("rpps", flat=True).distinct())


def _rpps_of(resource: dict) -> str | None:
    for ident in resource.get("identifier") or []:
        value = ident.get("value") or ""
        if ident.get("system") == r.SYSTEM_RPPS and value.startswith("8"):
            return value[1:]
    return None


def _parse_instant(raw: str | None) -> datetime | None:
    try:
        dt = parse_datetime(raw or "")
    except ValueError:
        return None
    if dt is None or timezone.is_naive(dt):
        return None
    return dt


def _safe_url(raw) -> str:
    """An http(s) link of the partner, else "" (never a javascript: or data: link)."""
    if not isinstance(raw, str) or len(raw) > 500:
        return ""
    parts = urllib.parse.urlsplit(raw.strip())
    return raw.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def _slot_deep_link(res: dict) -> str:
    for ext in res.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == EXT_BOOKING_DEEP_LINK:
            link = _safe_url(ext.get("valueUrl"))
            if link:
                return link
    return _safe_url(res.get("comment"))  # the ANS IG's place for the link


def _appointment_type(res: dict) -> str:
    codes = {
        str(c.get("code") or "").upper()
        for c in ((res.get("appointmentType") or {}).get("coding") or [])
        if isinstance(c, dict)
    }
    return "WALKIN" if "WALKIN" in codes else "ROUTINE"


def _modality(res: dict) -> str:
    for st in res.get("serviceType") or []:
        if not isinstance(st, dict):
            continue
        words = [st.get("text") or ""]
        for coding in st.get("coding") or []:
            if isinstance(coding, dict):
                words += [coding.get("code") or "", coding.get("display") or ""]
        for word in words:
            if not isinstance(word, str):
                continue
            if word in SERVICE_TYPE_MODALITY:
                return SERVICE_TYPE_MODALITY[word]
            lowered = word.lower()
            for key, modality in SERVICE_TYPE_MODALITY.items():
                if len(key) > 3 and key in lowered:
                    return modality
    return Modality.CABINET


def _location_of(schedule: dict, by_ref: dict) -> dict | None:
    for actor in schedule.get("actor") or []:
        res = by_ref.get((actor or {}).get("reference", ""))
        if res and res.get("resourceType") == "Location":
            return res
    return None


def _practice_for_location(source: PartnerSource, pro: Professional, location: dict | None):
    """The practice where a mirrored slot takes place: the one standing for the partner's
    Location (found by its id, else created from its address in the commune of its
    postal code, and linked to the professional); without a usable Location, the
    professional's first practice. None when nothing fits (the slot is skipped)."""
    from relais.directory.models import Practice
    from relais.interop.models import PartnerLocation

    practices = list(pro.practices.all())
    if not location or not location.get("id"):
        return practices[0] if practices else None
    external_id = str(location["id"])[:100]
    known = (
        PartnerLocation.objects.filter(source=source, external_id=external_id)
        .select_related("practice")
        .first()
    )
    if known is not None:
        if known.practice not in practices:
            known.practice.professionals.add(pro)
        return known.practice
    address = location.get("address") or {}
    lines = [x for x in address.get("line") or [] if isinstance(x, str)]
    commune = _commune_for(str(address.get("postalCode") or ""), str(address.get("city") or ""))
    if commune is None:
        return practices[0] if practices else None
    line = " ".join(lines)[:200]
    # The professional's own practice at that address, if Relais already has it.
    same = next(
        (
            p
            for p in practices
            if p.commune_id == commune.pk and search_key(p.address) == search_key(line)
        ),
        None,
    )
    if (
        same is None
        and source.sas_id is not None
        and commune.departement_id != (source.sas.departement_id)
    ):
        # A source serves its SAS: it never creates a place in another département (that
        # would widen the professional's territory); an address there is not mirrored.
        return None
    if same is None:
        position = location.get("position") or {}
        lat, lon = position.get("latitude"), position.get("longitude")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            lat, lon = commune.latitude, commune.longitude
        if lat is None or lon is None:
            return practices[0] if practices else None
        phone = next(
            (
                str(t.get("value"))[:20]
                for t in location.get("telecom") or []
                if isinstance(t, dict) and t.get("system") == "phone" and t.get("value")
            ),
            "",
        )
        same = Practice.objects.create(
            name=str(location.get("name") or line or commune.name)[:150],
            address=line or str(location.get("name") or "")[:200],
            commune=commune,
            latitude=float(lat),
            longitude=float(lon),
            phone=phone,
        )
    same.professionals.add(pro)
    PartnerLocation.objects.get_or_create(
        source=source, external_id=external_id, defaults={"practice": same}
    )
    return same


def partner_poll(*, source: PartnerSource, now: datetime | None = None, hours: int = 48) -> dict:
    """Fetch the partner's free slots by batches of 25 RPPS and mirror them as Slot rows
    (`source`, `external_id`). Free mirrored slots the partner no longer lists are closed.
    A source mirrors only the RPPS it is configured for, and of an answer only the slots
    of the batch's RPPS: any other is refused and counted in `foreign`."""
    now = now or timezone.now()
    end = now + timedelta(hours=hours)
    rpps = _partner_rpps(source)
    stats = {
        "batches": 0,
        "created": 0,
        "updated": 0,
        "closed": 0,
        "skipped": 0,
        "foreign": 0,
        "errors": 0,
    }
    seen_ids: set[str] = set()
    polled_rpps: list[str] = []
    source.last_error = ""
    for i in range(0, len(rpps), 25):
        batch = rpps[i : i + 25]
        query = urllib.parse.urlencode(
            [
                ("start", f"ge{now.isoformat(timespec='seconds')}"),
                ("start", f"le{end.isoformat(timespec='seconds')}"),
                (
                    "schedule.actor:Practitioner.identifier",
                    ",".join(f"{r.SYSTEM_RPPS}|8{x}" for x in batch),
                ),
                ("status", "free"),
                ("_include", "Slot:schedule"),
                ("_include:iterate", "Schedule:actor"),
            ]
        )
        stats["batches"] += 1
        try:
            status, bundle = _http(
                "GET", f"{source.base_url.rstrip('/')}/Slot?{query}", token=source.token
            )
            if status != 200 or not isinstance(bundle, dict):
                raise OSError(f"HTTP {status}")
        except OSError as exc:
            stats["errors"] += 1
            source.last_error = f"{exc}"[:300]
            continue
        polled_rpps.extend(batch)
        _mirror_bundle(source, bundle, seen_ids, stats, asked=set(batch))
    if polled_rpps:
        stats["closed"] = (
            Slot.objects.filter(
                source=source.name,
                status=SlotStatus.FREE,
                professional__rpps__in=polled_rpps,
                start__gte=now,
                start__lte=end,
            )
            .exclude(external_id__in=seen_ids)
            .update(status=SlotStatus.BLOCKED)
        )
    source.last_polled_at = timezone.now()
    source.last_stats = stats
    fields = ["last_polled_at", "last_error", "last_stats"]
    if not stats["errors"]:
        source.last_success_at = source.last_polled_at
        fields.append("last_success_at")
    source.save(update_fields=fields)
    return stats


def _mirror_bundle(source, bundle, seen_ids, stats, *, asked: set[str]) -> None:
    """Mirror the free slots of one answer, only for the RPPS `asked` in that batch."""
    from relais.interop.models import PartnerSlot

    resources = [e.get("resource") or {} for e in bundle.get("entry") or [] if isinstance(e, dict)]
    resources = [x for x in resources if isinstance(x, dict)]
    by_ref = {f"{x.get('resourceType')}/{x.get('id')}": x for x in resources}
    professionals = {
        p.rpps: p
        for p in Professional.objects.filter(
            rpps__in=[_rpps_of(x) for x in resources if x.get("resourceType") == "Practitioner"]
        )
        .filter(rpps__in=list(asked))
        .prefetch_related("practices")
    }
    for res in resources:
        if res.get("resourceType") != "Slot" or res.get("status") != "free":
            continue
        schedule = by_ref.get((res.get("schedule") or {}).get("reference", ""), {})
        rpps = None
        for actor in schedule.get("actor") or []:
            actor_res = by_ref.get((actor or {}).get("reference", ""))
            if actor_res and actor_res.get("resourceType") == "Practitioner":
                rpps = _rpps_of(actor_res)
        if rpps is not None and rpps not in asked:
            # Another professional than the ones this source is configured for (and was
            # asked about): never mirrored, whatever the partner says.
            stats["foreign"] += 1
            continue
        pro = professionals.get(rpps)
        start, end = _parse_instant(res.get("start")), _parse_instant(res.get("end"))
        if not pro or not start or not end or end <= start or not res.get("id"):
            stats["skipped"] += 1
            continue
        try:
            with transaction.atomic():
                practice = _practice_for_location(source, pro, _location_of(schedule, by_ref))
        except (IntegrityError, DjangoValidationError, ValueError):
            practice = None
        if practice is None:
            stats["skipped"] += 1
            continue
        labels = {s.get("code") for s in (res.get("meta") or {}).get("security") or []}
        external_id = str(res["id"])[:100]
        seen_ids.add(external_id)
        fields = {
            "start": start,
            "end": end,
            "practice": practice,
            "modality": _modality(res),
            "for_sas": "SNP" in labels or not labels,
            "for_cpts": "CPTS" in labels,
            "for_public": "PUBLIC" in labels,
            "for_partners": "PRO" in labels,
        }
        mirror = {"deep_link": _slot_deep_link(res), "appointment_type": _appointment_type(res)}
        # A WALKIN plage is a plage here too: re-published as WALKIN, listed as a range.
        fields["is_plage"] = mirror["appointment_type"] == "WALKIN"
        try:
            with transaction.atomic():
                existing = Slot.objects.filter(source=source.name, external_id=external_id).first()
                if existing is None:
                    slot = Slot.objects.create(
                        professional=pro, source=source.name, external_id=external_id, **fields
                    )
                    PartnerSlot.objects.create(slot=slot, source=source, **mirror)
                    stats["created"] += 1
                elif existing.status in (SlotStatus.FREE, SlotStatus.BLOCKED):
                    # Only unbooked mirrors follow the partner; a booked one is ours.
                    Slot.objects.filter(
                        pk=existing.pk, status__in=[SlotStatus.FREE, SlotStatus.BLOCKED]
                    ).update(status=SlotStatus.FREE, **fields)
                    PartnerSlot.objects.update_or_create(
                        slot=existing, defaults={"source": source, **mirror}
                    )
                    stats["updated"] += 1
        except IntegrityError:  # same professional and time as a slot Relais already has
            stats["skipped"] += 1


def partner_appointment_payload(*, booking: Booking) -> dict:
    slot = booking.slot
    patient = booking.request.patient
    contained = {
        "resourceType": "Patient",
        "id": "patient",
        "name": [{"family": patient.last_name, "given": [patient.first_name]}],
    }
    if patient.birth_date:
        contained["birthDate"] = patient.birth_date.isoformat()
    telecom = [
        {"system": s, "value": v}
        for s, v in (
            ("phone", booking.request.callback_phone),
            ("email", booking.request.callback_email),
        )
        if v
    ]
    if telecom:
        contained["telecom"] = telecom
    payload = r.appointment_resource(booking)
    payload.pop("id")
    payload["contained"] = [contained]
    payload["slot"] = [{"reference": f"Slot/{slot.external_id}"}]
    payload["participant"][1]["actor"] = {"reference": "#patient"}
    return payload


# How long a mirrored slot stays held while its partner confirms (beyond HTTP_TIMEOUT).
PARTNER_HOLD_SECONDS = HTTP_TIMEOUT + 50


def partner_mirror_of(slot: Slot):
    from relais.interop.models import PartnerSlot

    return PartnerSlot.objects.filter(slot_id=slot.pk).first()


def partner_booking_route(*, slot: Slot) -> PartnerSource:
    """The active source that confirms bookings of this mirrored slot; PartnerHandover
    (with the partner's booking link) when the partner is booked elsewhere: a WALKIN
    plage, a partner without a booking call, or a source switched off."""
    source = PartnerSource.objects.filter(name=slot.source).first()
    mirror = partner_mirror_of(slot)
    link = mirror.deep_link if mirror else ""
    if source is None or not source.active:
        raise PartnerHandover(
            "Ce créneau vient d'un logiciel d'agenda partenaire qui n'est plus interrogé : "
            "il ne peut pas être réservé dans Relais.",
            deep_link=link,
        )
    if mirror is not None and mirror.walkin:
        raise PartnerHandover(
            "Plage sans rendez-vous (WALKIN) : le patient se présente pendant la plage, "
            "aucun horaire précis ne se réserve.",
            deep_link=link,
        )
    if source.booking_mode != "fhir":
        raise PartnerHandover(
            f"Le logiciel {source.name} ne propose pas de réservation par interface : "
            "réservez dans son agenda.",
            deep_link=link,
        )
    return source


def _partner_close_refused(*, slot: Slot, source_name: str, operator=None, api_client=""):
    """After a refusal: the mirror is closed (idempotent) and the refusal audited."""
    Slot.objects.filter(pk=slot.pk, status__in=[SlotStatus.FREE, SlotStatus.HELD]).update(
        status=SlotStatus.BLOCKED, held_until=None, held_by=None
    )
    audit_record(
        user=operator,
        api_client=api_client,
        action="refused",
        obj=slot,
        reason=f"refusé par {source_name}",
    )


def _partner_refusal(status, answer) -> str | None:
    """None when the partner's answer confirms the appointment: 200/201 with the
    Appointment (not cancelled), or a 201 without a body; else why not."""
    if status not in (200, 201):
        return f"HTTP {status}"
    if answer is None and status == 201:
        return None
    if not isinstance(answer, dict) or answer.get("resourceType") != "Appointment":
        return f"HTTP {status} sans Appointment"
    if answer.get("status") in ("cancelled", "entered-in-error", "noshow"):
        return f"Appointment {answer.get('status')}"
    return None


def partner_slot_book(
    *,
    request,
    slot: Slot,
    operator=None,
    scope: Scope | None = None,
    api_client: str = "",
    idempotency_key: str | None = None,
    idempotency_owner: str = "",
) -> Booking:
    """Book a slot gathered from a partner: checked and held in Relais first, confirmed by
    the partner's POST Appointment, then booked through booking_create (the one booking
    rule). The booking, its messages to the patient and the professional, its reminders
    and its SAS report are written only once the partner accepted, in one transaction:
    a refusal or no answer leaves no booking and no message, closes the mirror, and
    raises PartnerRefused (a SlotUnavailable). A partner booked elsewhere (WALKIN, no
    booking call, source off) raises PartnerHandover before anything is held.

    The hold is a conditional UPDATE (free -> held until now + PARTNER_HOLD_SECONDS, by
    this operator): no other caller takes the slot meanwhile; its `held_until` is the
    token booking_create accepts for this caller."""
    scope = caller_scope(scope=scope, user=operator)
    channel = BookingChannel.PARTNER
    if scope is not SYSTEM and not (
        scope.can("booking.create") and request_in_scope(request=request, scope=scope)
    ):
        raise NotFound("Demande introuvable.")
    opened = slot_open_channels(slot=slot, scope=scope, channel=channel)
    source = partner_booking_route(slot=slot)
    # What booking_create would refuse, refused before the partner is asked.
    slot_check_eligible(slot=slot, request=request)
    if request.status != RequestStatus.OPEN:
        raise ApplicationError(
            "Cette demande n'est plus à orienter (déjà orientée ou close).",
            code="request_not_open",
        )
    if request.red_flag and request.red_flag_override_at is None:
        raise ApplicationError(
            "Signe de gravité : proposez le transfert au 15. Un créneau de médecine générale "
            "ne peut être réservé que si un médecin régulateur lève l'alerte.",
            code="red_flag",
        )
    now = timezone.now()
    token = now + timedelta(seconds=PARTNER_HOLD_SECONDS)
    taking = Slot.objects.filter(pk=slot.pk, start__gt=now).filter(
        available_q(now=now, user=operator)
    )
    if opened is not None:
        taking = taking.filter(channels_q(opened))
    if not taking.update(status=SlotStatus.HELD, held_until=token, held_by=operator):
        raise SlotUnavailable()
    # The appointment the partner receives already carries the id the booking will have.
    draft = Booking(request=request, slot=slot, operator=operator, channel=channel, created_at=now)
    try:
        status, answer = _http(
            "POST",
            f"{source.base_url.rstrip('/')}/Appointment",
            token=source.token,
            body=partner_appointment_payload(booking=draft),
        )
        error = _partner_refusal(status, answer)
    except OSError as exc:
        error = str(exc)
    if error is not None:
        logger.warning("partner %s refused slot %s: %s", source.name, slot.pk, error)
        _partner_close_refused(
            slot=slot, source_name=source.name, operator=operator, api_client=api_client
        )
        raise PartnerRefused(f"Le logiciel {source.name} n'a pas confirmé ce créneau.")
    try:
        return booking_create(
            request=request,
            slot=slot,
            operator=operator,
            channel=channel,
            scope=scope,
            api_client=api_client,
            public_id=draft.public_id,
            hold_token=token,
            idempotency_key=idempotency_key,
            idempotency_owner=idempotency_owner,
        )
    except ApplicationError:
        # Confirmed by the partner, yet refused here meanwhile (request placed another
        # way, cap reached): logged with technical ids for the coordinator to settle.
        logger.warning(
            "partner %s confirmed slot %s but Relais refused the booking", source.name, slot.pk
        )
        Slot.objects.filter(pk=slot.pk, status=SlotStatus.HELD, held_until=token).update(
            status=SlotStatus.FREE, held_until=None, held_by=None
        )
        raise


# --- Sources: back-office and schedule (issue 17, item 6) -------------------------------


def partners_poll_all() -> dict[str, dict]:
    return {s.name: partner_poll(source=s) for s in PartnerSource.objects.filter(active=True)}


def partners_poll_due(*, now: datetime | None = None) -> dict[str, dict]:
    """Poll every active source whose turn has come (next_poll_at passed or never set).
    Each source is claimed by a conditional UPDATE that moves its next_poll_at forward:
    two workers running the schedule at once never poll the same partner twice."""
    from django.db.models import Q

    now = now or timezone.now()
    done = {}
    due = PartnerSource.objects.filter(active=True).filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)
    )
    for source in due.order_by("pk"):
        claimed = (
            PartnerSource.objects.filter(pk=source.pk, active=True)
            .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
            .update(next_poll_at=now + timedelta(minutes=max(1, source.poll_every_minutes)))
        )
        if not claimed:
            continue
        try:
            done[source.name] = partner_poll(source=source, now=now)
        except Exception as exc:  # noqa: BLE001 - one partner's bug never stops the others
            logger.exception("partner %s: poll failed", source.name)
            PartnerSource.objects.filter(pk=source.pk).update(
                last_error=f"{exc.__class__.__name__}"[:300], last_polled_at=timezone.now()
            )
            done[source.name] = {"errors": 1}
    return done


def partner_source_test(*, source: PartnerSource, user=None) -> tuple[bool, str]:
    """Test the connection: GET metadata (the CapabilityStatement) with the source's
    token. Stores and returns (ok, French message); writes no slot."""
    try:
        status, body = _http("GET", f"{source.base_url.rstrip('/')}/metadata", token=source.token)
    except OSError as exc:
        ok, message = False, f"Connexion impossible : {exc.__class__.__name__}"
    else:
        if (
            status == 200
            and isinstance(body, dict)
            and body.get("resourceType") == ("CapabilityStatement")
        ):
            version = body.get("fhirVersion") or "?"
            ok, message = True, f"Connexion réussie (FHIR {version})."
        elif status in (401, 403):
            ok, message = (
                False,
                f"Accès refusé par le partenaire (HTTP {status}) : vérifiez le jeton.",
            )
        else:
            ok, message = False, f"Réponse inattendue du partenaire (HTTP {status})."
    PartnerSource.objects.filter(pk=source.pk).update(
        last_test_at=timezone.now(), last_test_result=message[:300]
    )
    audit_record(user=user, action="update", obj=source, reason="test de connexion")
    return ok, message


def partner_source_save(*, source: PartnerSource, user, created: bool) -> PartnerSource:
    """Create or update a source from the back-office (validated by its form)."""
    source.rpps = sorted({str(x) for x in source.rpps or []})
    if created:
        source.next_poll_at = None
    source.save()
    audit_record(user=user, action="create" if created else "update", obj=source)
    return source


def partner_source_set_active(*, source: PartnerSource, active: bool, user) -> PartnerSource:
    """Enable or disable polling. A disabled source's free mirrors are closed: nobody may
    take a slot its partner is no longer asked about."""
    with transaction.atomic():
        PartnerSource.objects.filter(pk=source.pk).update(
            active=active, next_poll_at=None if active else source.next_poll_at
        )
        if not active:
            Slot.objects.filter(source=source.name, status=SlotStatus.FREE).update(
                status=SlotStatus.BLOCKED
            )
        audit_record(
            user=user, action="update", obj=source, reason="activée" if active else "désactivée"
        )
    source.refresh_from_db()
    return source
