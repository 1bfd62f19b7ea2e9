from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "relais.interop"
    label = "interop"
    verbose_name = "Interopérabilité"

    def ready(self):
        # Interop subscribes to what orientation publishes (relais.orientation.events):
        # the INT_R03 outbox row in the booking's transaction, and the partner path for
        # mirrored slots. Orientation never imports interop.
        from relais.interop.services import appointment_report_enqueue, partner_slot_book
        from relais.orientation import events

        events.subscribe_booking_changed(appointment_report_enqueue)
        events.register_mirror_booker(partner_slot_book)
