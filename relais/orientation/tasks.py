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
