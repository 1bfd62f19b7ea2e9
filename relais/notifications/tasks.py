"""Thin task wrappers around the notification services."""

from django_tasks import task


@task()
def deliver_notification(notification_id: int) -> str:
    from relais.notifications.services import notification_deliver

    return notification_deliver(notification_id=notification_id)


@task()
def send_booking_reminder(booking_id: int, hours_before: int) -> str:
    from relais.notifications.services import booking_reminder_send

    return booking_reminder_send(booking_id=booking_id, hours_before=hours_before)
