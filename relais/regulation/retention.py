"""Minimisation: patient identities do not stay forever, and a patient can get
everything Relais holds on them (GDPR access request)."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from relais.audit.services import audit_record
from relais.regulation.models import CLOSED_STATUSES, Patient, Request


def patients_due_for_anonymisation(*, now=None, months: int | None = None):
    """Patients whose last request is older than the retention delay and all closed."""
    now = now or timezone.now()
    months = months or settings.RELAIS_RETENTION_MONTHS
    limit = now - timedelta(days=round(months * 30.44))
    return (
        Patient.objects.filter(anonymised_at__isnull=True)
        .annotate(last_request=Max("requests__created_at"))
        .filter(Q(last_request__lt=limit) | Q(last_request__isnull=True, created_at__lt=limit))
        .exclude(requests__in=Request.objects.exclude(status__in=CLOSED_STATUSES))
    )


@transaction.atomic
def patients_anonymise(*, now=None, months: int | None = None) -> int:
    """Erase the identities of patients past the retention delay. Kept for statistics:
    the requests with their channel, CISP-2 motif, commune, dates, statuses and bookings;
    the birth date becomes the 1st of January of its year (age bands still work).
    Erased: names, phone, e-mail, free texts, and the messages sent to the patient."""
    from relais.notifications.models import Notification

    now = now or timezone.now()
    due = list(
        patients_due_for_anonymisation(now=now, months=months).values_list("pk", "birth_date")
    )
    for pk, birth in due:
        Patient.objects.filter(pk=pk).update(
            first_name="",
            last_name=f"ANONYME-{pk}",
            phone="",
            email="",
            birth_date=birth.replace(month=1, day=1) if birth else None,
            birth_name="",
            birth_first_names="",
            birth_place_insee="",
            ins_nir="",
            ins_oid="",
            identity_status="provisoire",
            insi_checked_at=None,
            anonymised_at=now,
        )
    ids = [pk for pk, _ in due]
    Request.objects.filter(patient_id__in=ids).update(
        motif_text="", advice_note="", callback_phone="", callback_email=""
    )
    Notification.objects.filter(
        booking__request__patient_id__in=ids, kind__in=_patient_kinds()
    ).update(recipient="", body="[effacé]")
    if ids:
        audit_record(
            action="anonymise",
            object_type="regulation.patient",
            object_id=f"{len(ids)} patients",
            reason=f"durée de conservation ({months or settings.RELAIS_RETENTION_MONTHS} mois)",
        )
    return len(ids)


def _patient_kinds():
    return ["booking_patient", "reminder_24h", "reminder_3h", "web_request"]


def patient_export(*, patient: Patient, scope=None, user=None) -> dict:
    """Everything Relais holds on one patient, for an access request (audited).

    With a `scope` (an administrator's), only the requests and messages of that
    territory: another SAS's history of the same person is theirs to export."""
    from relais.notifications.models import Notification
    from relais.regulation.selectors import requests_for

    patient_requests = patient.requests.all()
    if scope is not None:
        patient_requests = patient_requests.filter(pk__in=requests_for(scope=scope).values("pk"))
    requests = []
    for req in patient_requests.select_related("motif", "cpts", "sas").prefetch_related(
        "events", "bookings__slot__professional", "bookings__slot__practice__commune"
    ):
        requests.append(
            {
                "reference": req.reference,
                "created_at": req.created_at.isoformat(),
                "channel": req.channel,
                "status": req.status,
                "motif": req.motif.code if req.motif else None,
                "motif_text": req.motif_text,
                "urgency": req.urgency,
                "territory": str(req.cpts or req.sas),
                "decision": req.decision,
                "advice_note": req.advice_note,
                "red_flag_reasons": req.red_flag_reasons,
                "timeline": [
                    {"at": e.at.isoformat(), "status": e.to_status, "note": e.note}
                    for e in req.events.all()
                ],
                "bookings": [
                    {
                        "start": b.slot.start.isoformat(),
                        "professional": b.slot.professional.display_name,
                        "place": f"{b.slot.practice.address}, {b.slot.practice.commune.name}",
                        "status": b.status,
                    }
                    for b in req.bookings.all()
                ],
            }
        )
    messages = Notification.objects.filter(
        booking__request__in=patient_requests, kind__in=_patient_kinds()
    ).values("created_at", "channel", "recipient", "body", "status")
    audit_record(user=user, action="export", obj=patient, reason="demande d'accès")
    return {
        "patient": {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
            "phone": patient.phone,
            "email": patient.email,
            "commune": str(patient.commune),
            "medecin_traitant": str(patient.medecin_traitant or ""),
            "anonymised_at": patient.anonymised_at.isoformat() if patient.anonymised_at else None,
        },
        "requests": requests,
        "messages": [{**m, "created_at": m["created_at"].isoformat()} for m in messages],
    }
