"""Thin task wrappers around the notification services."""

from django_tasks import task


@task()
def deliver_notification(notification_id: int) -> str:
    from relais.notifications.services import notification_deliver

    return notification_deliver(notification_id=notification_id)


@task()
def deliver_notifications(notification_ids: list[int]) -> dict[str, int]:
    """First attempt of messages written together; a failure is retried on its own."""
    from relais.notifications.services import notification_deliver

    outcomes: dict[str, int] = {}
    for pk in notification_ids:
        outcome = notification_deliver(notification_id=pk)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@task()
def send_booking_reminder(booking_id: int, hours_before: int) -> str:
    from relais.notifications.services import booking_reminder_send

    return booking_reminder_send(booking_id=booking_id, hours_before=hours_before)
