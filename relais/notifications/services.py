"""Writing messages into the outbox and delivering them."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from relais.notifications.backends import get_sms_backend
from relais.notifications.models import Notification, NotificationChannel, NotificationStatus

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def _queue_retry(notification: Notification, *, delay_seconds: int) -> None:
    """Another attempt of one message after `delay_seconds` (exponential backoff)."""
    from relais.notifications.tasks import deliver_notification

    deliver_notification.using(run_after=timezone.now() + timedelta(seconds=delay_seconds)).enqueue(
        notification.pk
    )


def notification_create(
    *, kind: str, channel: str, recipient: str, body: str, subject: str = "", booking=None
) -> Notification | None:
    """One message (None without a recipient): see notifications_create."""
    created = notifications_create(
        [
            {
                "kind": kind,
                "channel": channel,
                "recipient": recipient,
                "subject": subject,
                "body": body,
                "booking": booking,
            }
        ]
    )
    return created[0] if created else None


def notifications_create(messages: list[dict]) -> list[Notification]:
    """Messages written together (a booking's SMS and e-mail to the patient, SMS to the
    professional): one INSERT and one queued delivery task, in the caller's transaction
    (the database task backend: if the caller rolls back, so do the messages; if the
    worker is down, the task waits for it). Each message holds Notification fields; those
    without a recipient are skipped. A failed delivery is retried on its own
    (notification_deliver)."""
    from relais.notifications.tasks import deliver_notifications

    notifications = Notification.objects.bulk_create(
        [Notification(**m) for m in messages if m["recipient"]]
    )
    if notifications:
        deliver_notifications.enqueue([n.pk for n in notifications])
    return notifications


def _when(dt) -> str:
    local = timezone.localtime(dt)
    return f"{date_format(local, 'l j F')} à {local:%H:%M}".replace(":", "h", 1)


def notify_booking_created(*, booking) -> list[Notification]:
    """Messages to the patient and to the professional; called inside the booking transaction."""
    slot, req = booking.slot, booking.request
    professional, practice = slot.professional, slot.practice
    when = _when(slot.start)
    place = _place(slot)
    cancel = f"Pour annuler, appelez le {practice.phone or 'cabinet'}."
    patient_text = (
        f"Relais : rendez-vous le {when} avec {professional.display_name}, {place}. "
        f"Apportez votre carte Vitale et vos ordonnances en cours. {cancel}"
    )
    created = notifications_create(
        [
            {
                "kind": "booking_patient",
                "channel": NotificationChannel.SMS,
                "recipient": req.callback_phone,  # this request's contact, not the record's
                "body": patient_text,
                "booking": booking,
            },
            {
                "kind": "booking_patient",
                "channel": NotificationChannel.EMAIL,
                "recipient": req.callback_email,
                "subject": "Votre rendez-vous de soins non programmés",
                "body": patient_text,
                "booking": booking,
            },
            {
                "kind": "booking_professional",
                "channel": NotificationChannel.SMS,
                "recipient": professional.phone,
                # No patient identity in an SMS to the professional: it is in Relais.
                "body": f"Relais : un patient SNP vous est adressé le {when}. Détails dans Relais.",
                "booking": booking,
            },
        ]
    )
    reminders_schedule(booking=booking)
    return created


def notify_level2_offer(*, offer) -> list[Notification]:
    """The anonymised request (age, motif, commune, delay — no name) to a volunteer."""
    from django.urls import reverse

    from relais.orientation.tokens import offer_token

    req = offer.call.request
    age = req.patient.age
    motif = req.motif.label if req.motif else "motif à préciser"
    link = settings.SITE_URL + reverse("orientation:level2_offer", args=[offer_token(offer)])
    text = (
        f"Relais niveau 2 : patient{f' de {age} ans' if age is not None else ''}, {motif}, "
        f"{req.patient.commune.name}, {req.get_urgency_display().lower()}. "
        f"Pouvez-vous le recevoir ? {link}"
    )
    pro = offer.professional
    return notifications_create(
        [
            {
                "kind": "level2_offer",
                "channel": NotificationChannel.SMS,
                "recipient": pro.phone,
                "body": text,
            },
            {
                "kind": "level2_offer",
                "channel": NotificationChannel.EMAIL,
                "recipient": pro.email,
                "subject": "Relais : demande de soins non programmés (niveau 2)",
                "body": text,
            },
        ]
    )


def notify_coordinators_level2(*, call, radius_km: float, added: int) -> list[Notification]:
    """Alert the CPTS coordinators that a niveau-2 call is still unanswered."""
    from relais.accounts.models import Membership, Role

    req = call.request
    if req.cpts_id is None:
        return []
    emails = (
        Membership.objects.filter(role=Role.COORDINATEUR, cpts_id=req.cpts_id)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    text = (
        f"Relais : la demande {req.reference} attend toujours un volontaire de niveau 2. "
        f"Rayon élargi à {radius_km:.0f} km ({added} volontaire(s) de plus sollicité(s))."
    )
    created = [
        notification_create(
            kind="level2_alert",
            channel=NotificationChannel.EMAIL,
            recipient=email,
            subject=f"Relais : niveau 2 sans réponse ({req.reference})",
            body=text,
        )
        for email in emails
    ]
    return [n for n in created if n is not None]


def reminders_schedule(*, booking) -> int:
    """Queue the reminders (e.g. the day before and 3 h before) in the booking's
    transaction; each checks at run time that the booking still stands."""
    from relais.notifications.tasks import send_booking_reminder

    now = timezone.now()
    queued = 0
    for hours in settings.RELAIS_REMINDER_HOURS:
        when = booking.slot.start - timedelta(hours=hours)
        if when > now:
            send_booking_reminder.using(run_after=when).enqueue(booking.pk, hours)
            queued += 1
    return queued


def booking_reminder_send(*, booking_id: int, hours_before: int) -> str:
    from relais.orientation.models import Booking, BookingStatus

    booking = (
        Booking.objects.select_related(
            "slot__professional", "slot__practice__commune", "request__patient"
        )
        .filter(pk=booking_id, status=BookingStatus.BOOKED)
        .first()
    )
    if booking is None:
        return "skipped"  # cancelled or already seen: no reminder
    slot = booking.slot
    text = (
        f"Relais : rappel, rendez-vous le {_when(slot.start)} avec "
        f"{slot.professional.display_name}, {_place(slot)}. "
        f"Empêché ? Prévenez le {slot.practice.phone or 'cabinet'} pour libérer la place."
    )
    created = notification_create(
        kind=f"reminder_{hours_before}h",
        channel=NotificationChannel.SMS,
        recipient=booking.request.callback_phone,
        body=text,
        booking=booking,
    )
    return "queued" if created else "no_phone"


def _place(slot) -> str:
    if slot.modality == "teleconsultation":
        return "en téléconsultation (le lien vous sera envoyé)"
    if slot.modality == "visite":
        return "à votre domicile"
    return f"{slot.practice.address}, {slot.practice.commune.name}"


def notification_deliver(*, notification_id: int) -> str:
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, status=NotificationStatus.PENDING)
            .first()
        )
        if notification is None:
            return "skipped"
        notification.attempts += 1
        try:
            if notification.channel == NotificationChannel.SMS:
                get_sms_backend().send(to=notification.recipient, text=notification.body)
            else:
                send_mail(
                    notification.subject,
                    notification.body,
                    None,
                    [notification.recipient],
                    fail_silently=False,
                )
        except Exception as exc:  # noqa: BLE001 - any backend failure is recorded, then retried
            notification.last_error = f"{exc.__class__.__name__}: {exc}"[:300]
            if notification.attempts >= MAX_ATTEMPTS:
                notification.status = NotificationStatus.FAILED
            else:
                _queue_retry(notification, delay_seconds=60 * 2**notification.attempts)
            notification.save(update_fields=["attempts", "last_error", "status"])
            logger.warning(
                "notification %s failed (attempt %s)", notification.pk, notification.attempts
            )
            return "failed"
        notification.status = NotificationStatus.SENT
        notification.sent_at = timezone.now()
        notification.save(update_fields=["attempts", "status", "sent_at"])
        return "sent"


def notifications_deliver_pending() -> dict[str, int]:
    """Catch-up sweep (command and scheduled task): deliver what is still pending."""
    counts: dict[str, int] = {}
    ids = list(
        Notification.objects.filter(status=NotificationStatus.PENDING).values_list("pk", flat=True)
    )
    for pk in ids:
        outcome = notification_deliver(notification_id=pk)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
