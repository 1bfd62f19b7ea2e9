"""Writing messages into the outbox and delivering them."""

import logging
import os
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format

from relais.core.queue import enqueue
from relais.notifications.backends import get_sms_backend
from relais.notifications.models import (
    Notification,
    NotificationChannel,
    NotificationStatus,
    PeriodicJob,
    WorkerHeartbeat,
)

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
DB_ERRORS = (OperationalError, InterfaceError)
# Queued by name (relais.core.queue): the tasks import these services, never the reverse.
DELIVER_ONE = "relais.notifications.tasks.deliver_notification"
DELIVER_MANY = "relais.notifications.tasks.deliver_notifications"
DELIVERY_TASKS = (DELIVER_ONE, DELIVER_MANY)
UNCERTAIN_ERROR = (
    "Envoi interrompu (processus arrêté pendant l'envoi) : le message est peut-être parti. "
    "Vérifiez auprès du destinataire avant de renvoyer."
)


def _queue_retry(notification: Notification, *, delay_seconds: int) -> None:
    """Another attempt of one message after `delay_seconds` (exponential backoff)."""
    enqueue(
        DELIVER_ONE,
        notification.pk,
        run_after=timezone.now() + timedelta(seconds=delay_seconds),
    )


def notification_create(
    *,
    kind: str,
    channel: str,
    recipient: str,
    body: str,
    subject: str = "",
    booking=None,
    request=None,
) -> Notification | None:
    """One message (None without a recipient): see notifications_create. `request` (or
    the booking's) gives the message its territory."""
    created = notifications_create(
        [
            {
                "kind": kind,
                "channel": channel,
                "recipient": recipient,
                "subject": subject,
                "body": body,
                "booking": booking,
                "request": request,
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
    notifications = Notification.objects.bulk_create(
        [Notification(**_with_territory(m)) for m in messages if m["recipient"]]
    )
    if notifications:
        enqueue(DELIVER_MANY, [n.pk for n in notifications])
    return notifications


def _with_territory(message: dict) -> dict:
    """The message's SAS and CPTS, from its `request` (or its booking's request): whose
    coordinators and administrators see it if it fails for good."""
    message = dict(message)
    request = message.pop("request", None)
    booking = message.get("booking")
    if request is None and booking is not None:
        request = booking.request
    if request is not None:
        message.setdefault("sas_id", request.sas_id)
        message.setdefault("cpts_id", request.cpts_id)
    return message


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


def notify_booking_cancelled(*, booking, by_professional: bool = False) -> list[Notification]:
    """A cancelled booking, whoever cancelled it (operator, professional, API, FHIR,
    niveau 2): the patient (SMS and e-mail to this request's contact) and the professional
    who was told a patient was coming (SMS, no identity) are told. Called inside the
    cancelling transaction: a rollback drops the messages with it."""
    slot, req = booking.slot, booking.request
    when = _when(slot.start)
    professional = slot.professional
    who = "par le cabinet" if by_professional else "par le service d'accès aux soins"
    patient_text = (
        f"Relais : votre rendez-vous du {when} avec {professional.display_name} est annulé "
        f"{who}. Le service d'accès aux soins vous rappelle pour vous proposer une autre "
        "solution. En cas d'aggravation, appelez le 15."
    )
    messages = [
        {
            "kind": "booking_cancelled_patient",
            "channel": NotificationChannel.SMS,
            "recipient": req.callback_phone,
            "body": patient_text,
            "booking": booking,
        },
        {
            "kind": "booking_cancelled_patient",
            "channel": NotificationChannel.EMAIL,
            "recipient": req.callback_email,
            "subject": "Votre rendez-vous de soins non programmés est annulé",
            "body": patient_text,
            "booking": booking,
        },
    ]
    if not by_professional:  # the professional who cancelled knows it already
        messages.append(
            {
                "kind": "booking_cancelled_professional",
                "channel": NotificationChannel.SMS,
                "recipient": professional.phone,
                "body": f"Relais : le patient SNP du {when} ne viendra pas (rendez-vous "
                "annulé). Le créneau est de nouveau libre. Détails dans Relais.",
                "booking": booking,
            }
        )
    return notifications_create(messages)


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
                "request": req,
            },
            {
                "kind": "level2_offer",
                "channel": NotificationChannel.EMAIL,
                "recipient": pro.email,
                "subject": "Relais : demande de soins non programmés (niveau 2)",
                "body": text,
                "request": req,
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
            request=req,
        )
        for email in emails
    ]
    return [n for n in created if n is not None]


def reminders_schedule(*, booking) -> int:
    """Queue the reminders (e.g. the day before and 3 h before) in the booking's
    transaction; each checks at run time that the booking still stands."""
    now = timezone.now()
    queued = 0
    for hours in settings.RELAIS_REMINDER_HOURS:
        when = booking.slot.start - timedelta(hours=hours)
        if when > now:
            enqueue(
                "relais.notifications.tasks.send_booking_reminder",
                booking.pk,
                hours,
                run_after=when,
            )
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
    kind = f"reminder_{hours_before}h"
    if Notification.objects.filter(booking=booking, kind=kind).exists():
        return "skipped"  # this task already ran (reclaimed after a crash): write it once
    slot = booking.slot
    text = (
        f"Relais : rappel, rendez-vous le {_when(slot.start)} avec "
        f"{slot.professional.display_name}, {_place(slot)}. "
        f"Empêché ? Prévenez le {slot.practice.phone or 'cabinet'} pour libérer la place."
    )
    try:
        with transaction.atomic():  # the partial unique index settles a concurrent run
            created = notification_create(
                kind=kind,
                channel=NotificationChannel.SMS,
                recipient=booking.request.callback_phone,
                body=text,
                booking=booking,
            )
    except IntegrityError:
        return "skipped"
    return "queued" if created else "no_phone"


def _place(slot) -> str:
    if slot.modality == "teleconsultation":
        return "en téléconsultation (le lien vous sera envoyé)"
    if slot.modality == "visite":
        return "à votre domicile"
    return f"{slot.practice.address}, {slot.practice.commune.name}"


def _lease_seconds() -> int:
    return int(getattr(settings, "RELAIS_TASK_LEASE_SECONDS", 300))


def _send(notification: Notification) -> None:
    if notification.channel == NotificationChannel.SMS:
        get_sms_backend().send(
            to=notification.recipient,
            text=notification.body,
            reference=str(notification.public_id),
        )
    else:
        EmailMessage(
            notification.subject,
            notification.body,
            None,
            [notification.recipient],
            # A gateway or mail log can tell a resend from a duplicate by this reference.
            headers={"X-Relais-Reference": str(notification.public_id)},
        ).send(fail_silently=False)


def _write_outcome(write) -> None:
    """Record what the gateway answered. The message has left (or failed) already: a
    database restart at this moment must not lose the outcome, so outside a transaction
    the write is retried for up to about half a minute, reconnecting in between."""
    delays = [0.5, 1, 2, 4, 8, 16]
    for delay in [*delays, None]:
        try:
            write()
            return
        except DB_ERRORS:
            if delay is None or connection.in_atomic_block:
                raise
            connection.close()
            time.sleep(delay)


def notification_deliver(*, notification_id: int) -> str:
    """Send one message at most once.

    1. Claim: a conditional UPDATE pending -> sending (committed on its own): of two
       workers running the same message (a reclaimed task, the sweep), one claims it,
       the other answers "skipped".
    2. Call the gateway outside any transaction (no row lock held during an HTTP call).
    3. Record the outcome, conditionally on our claim: sent, or back to pending with a
       retry task (backoff), or failed for good after MAX_ATTEMPTS.

    A process killed between 1 and 3 leaves the row "sending": the sweep turns it into
    "failed" once the lease lapses, with a message saying it may have left (we cannot
    know whether the gateway got it). It is never re-sent automatically: at most once,
    and a human decides on the failed-messages page ("Renvoyer").
    """
    claimed_at = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.PENDING
    ).update(status=NotificationStatus.SENDING, claimed_at=claimed_at, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    notification = Notification.objects.get(pk=notification_id)
    ours = Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.SENDING, claimed_at=claimed_at
    )
    try:
        _send(notification)
    except Exception as exc:  # noqa: BLE001 - any backend failure is recorded, then retried
        error = f"{exc.__class__.__name__}: {exc}"[:300]
        final = notification.attempts >= MAX_ATTEMPTS

        def record_failure():
            with transaction.atomic():
                if final:
                    ours.update(
                        status=NotificationStatus.FAILED,
                        last_error=error,
                        failed_at=timezone.now(),
                    )
                elif ours.update(status=NotificationStatus.PENDING, last_error=error):
                    _queue_retry(notification, delay_seconds=60 * 2**notification.attempts)

        _write_outcome(record_failure)
        logger.warning(
            "notification %s failed (attempt %s%s)",
            notification.pk,
            notification.attempts,
            ", for good" if final else "",
        )
        return "failed"
    _write_outcome(lambda: ours.update(status=NotificationStatus.SENT, sent_at=timezone.now()))
    return "sent"


def _ids_with_live_task() -> set[int]:
    """Notifications referenced by a delivery task still to run (ready, or running)."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    ids: set[int] = set()
    rows = DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        task_path__in=DELIVERY_TASKS,
    ).values_list("args_kwargs", flat=True)
    for args_kwargs in rows.iterator():
        args = (args_kwargs or {}).get("args") or []
        kwargs = (args_kwargs or {}).get("kwargs") or {}
        value = args[0] if args else kwargs.get("notification_id", kwargs.get("notification_ids"))
        ids.update(value if isinstance(value, list) else [value])
    return ids


def notifications_deliver_pending(*, only_orphans: bool = True, limit: int = 500) -> dict:
    """Catch-up sweep: deliver the pending messages that no task will deliver (their task
    was lost: a crash, a failed task, a manual cleanup). Pending ids are read BEFORE the
    live tasks, so a message whose task retries it meanwhile is seen with its new task.
    `only_orphans=False` delivers every pending message (the `--all` of the command)."""
    pending = list(
        Notification.objects.filter(status=NotificationStatus.PENDING)
        .order_by("created_at")
        .values_list("pk", flat=True)[: limit * 4 if only_orphans else limit]
    )
    if only_orphans and pending:
        live = _ids_with_live_task()
        pending = [pk for pk in pending if pk not in live][:limit]
    counts: dict[str, int] = {}
    for pk in pending:
        outcome = notification_deliver(notification_id=pk)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def notifications_fail_stale_claims(*, lease_seconds: int | None = None) -> int:
    """Messages left "sending" past the lease (their worker died between the claim and
    the outcome): failed for good, never re-sent automatically (at most once)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=lease_seconds or _lease_seconds())
    stale = Notification.objects.filter(status=NotificationStatus.SENDING, claimed_at__lt=cutoff)
    count = stale.update(
        status=NotificationStatus.FAILED, last_error=UNCERTAIN_ERROR, failed_at=now
    )
    if count:
        logger.warning("%s notification(s) interrupted while sending: marked failed", count)
    return count


def notification_resend(*, notification: Notification, user) -> Notification:
    """ "Renvoyer" on the failed-messages page: failed -> pending (conditional, so a double
    click queues one send), a fresh delivery task, audited."""
    from relais.audit.services import audit_record
    from relais.core.errors import ApplicationError

    with transaction.atomic():
        updated = Notification.objects.filter(
            pk=notification.pk, status=NotificationStatus.FAILED
        ).update(status=NotificationStatus.PENDING, attempts=0, failed_at=None, claimed_at=None)
        if not updated:
            raise ApplicationError(
                "Ce message n'est plus en échec : il a déjà été remis en file d'envoi.",
                code="notification_not_failed",
            )
        enqueue(DELIVER_ONE, notification.pk)
        audit_record(user=user, action="resend", obj=notification, reason=notification.kind)
    notification.refresh_from_db()
    return notification


# --- the task system: leases, heartbeats, the periodic sweep ------------------------------


class LeaseExpired(Exception):
    """Recorded on a task row found RUNNING past its lease: its worker died."""


def tasks_reclaim_stale(
    *, lease_seconds: int | None = None, worker_id: str = "", max_runs: int = 5
) -> int:
    """Tasks stuck RUNNING: the stale row is marked failed (LeaseExpired) and a copy is
    enqueued again, in one transaction, conditionally on the row still being the same
    RUNNING row (two sweeps reclaim it once).

    Without `worker_id`: rows started more than the lease ago whose worker shows no
    recent heartbeat (a long task of a live worker is left alone). With `worker_id`: a
    worker (re)starting or reconnecting reclaims its own RUNNING rows at once; worker
    ids are unique, so those are orphans of an earlier life of the same id.
    A task already run `max_runs` times (one worker id per run) is not enqueued again.
    Tasks are therefore at least once; deliveries stay at most once (claims)."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult, get_date_max

    now = timezone.now()
    cutoff = now - timedelta(seconds=lease_seconds or _lease_seconds())
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING)
    if not worker_id:
        running = running.filter(started_at__lt=cutoff)
        alive = set(
            WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).values_list(
                "worker_id", flat=True
            )
        )
    reclaimed = 0
    for row in running:
        last = row.worker_ids[-1] if row.worker_ids else ""
        if (worker_id and last != worker_id) or (not worker_id and last in alive):
            continue
        with transaction.atomic():
            taken = DBTaskResult.objects.filter(
                pk=row.pk, status=TaskResultStatus.RUNNING, started_at=row.started_at
            ).update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{__name__}.LeaseExpired",
                traceback=f"LeaseExpired: worker {last or '?'} stopped while running this task",
            )
            if not taken:
                continue
            reclaimed += 1
            if len(row.worker_ids) >= max_runs:
                logger.error("task %s reclaimed %s times: not enqueued again", row.pk, max_runs)
                continue
            DBTaskResult.objects.create(
                args_kwargs=row.args_kwargs,
                priority=row.priority,
                task_path=row.task_path,
                queue_name=row.queue_name,
                backend_name=row.backend_name,
                run_after=get_date_max(),
                worker_ids=row.worker_ids,
            )
    if reclaimed:
        logger.warning("reclaimed %s task(s) stuck RUNNING", reclaimed)
    return reclaimed


def worker_heartbeat(*, worker_id: str, started_at=None) -> None:
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(last_seen=now)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=worker_id,
            defaults={
                "hostname": socket.gethostname()[:200],
                "pid": os.getpid(),
                "started_at": started_at or now,
                "last_seen": now,
            },
        )


def worker_stopped(*, worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def periodic_job_claim(
    *,
    name: str,
    interval_seconds: float | None,
    worker_id: str = "",
    now=None,
    next_run_at=None,
    first_run_at=None,
) -> bool:
    """True for exactly one caller per interval, across every worker: a conditional UPDATE
    moves the job's next due time forward, and only the caller that moved it runs it.
    On PostgreSQL (READ COMMITTED) a second concurrent UPDATE waits for the first one's
    row lock, then re-checks `next_run_at <= now` on the new row and updates nothing.
    `next_run_at` (instead of now + interval) serves the daily jobs (relais.notifications.
    scheduler); `first_run_at` is the due time of a row created by this call."""
    now = now or timezone.now()
    if next_run_at is None:
        next_run_at = now + timedelta(seconds=interval_seconds)
    PeriodicJob.objects.bulk_create(
        [PeriodicJob(name=name, next_run_at=first_run_at or now)], ignore_conflicts=True
    )
    return (
        PeriodicJob.objects.filter(name=name, next_run_at__lte=now).update(
            next_run_at=next_run_at,
            last_started_at=now,
            last_worker_id=worker_id[:64],
        )
        == 1
    )


def sweep_run(*, worker_id: str = "") -> dict:
    """The periodic sweep: reclaim lapsed task leases, close interrupted sends, deliver
    the outbox messages that have no live task."""
    result = {
        "tasks_reclaimed": tasks_reclaim_stale(),
        "sends_interrupted": notifications_fail_stale_claims(),
        "orphans": notifications_deliver_pending(),
    }
    PeriodicJob.objects.filter(name="sweep").update(
        last_finished_at=timezone.now(), last_result=result
    )
    return result


def sweep_if_due(*, worker_id: str = "", interval_seconds: float | None = None) -> dict | None:
    interval = interval_seconds or getattr(settings, "RELAIS_SWEEP_SECONDS", 60)
    if not periodic_job_claim(name="sweep", interval_seconds=interval, worker_id=worker_id):
        return None
    return sweep_run(worker_id=worker_id)
