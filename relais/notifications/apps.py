from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "relais.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from relais.notifications import metrics

        metrics.connect()  # bookings created, task latency (relais/notifications/metrics.py)
