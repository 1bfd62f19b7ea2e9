"""Thin task wrappers around orientation services."""

from django_tasks import task


@task()
def level2_check(call_id: int) -> str:
    from relais.orientation.services import level2_check as check

    return check(call_id=call_id)


@task()
def outcome_reminder(booking_id: int) -> str:
    from relais.orientation.services import outcome_reminder_send

    return outcome_reminder_send(booking_id=booking_id)


@task()
def expire_holds() -> int:
    """Periodic (relais.notifications.scheduler "holds_expire"): lapsed holds back to free."""
    from relais.orientation.services import holds_expire

    return holds_expire()


@task()
def level2_checks_due() -> dict:
    """Periodic (scheduler "level2_checks"): every open niveau-2 call past its widening
    time (not yet widened) or its deadline is checked now. A safety net under the two
    checks queued at launch (a lost task, a worker down at the time); level2_check locks
    the call and acts once, so a check run twice is harmless."""
    from django.db.models import Q
    from django.utils import timezone

    from relais.orientation.models import Level2Call, Level2Status
    from relais.orientation.services import level2_check

    now = timezone.now()
    due = Level2Call.objects.filter(status=Level2Status.OPEN).filter(
        Q(deadline__lte=now) | Q(widen_at__lte=now, widened=False)
    )
    outcomes: dict[str, int] = {}
    for call_id in due.values_list("pk", flat=True)[:500]:
        outcome = level2_check(call_id=call_id, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
