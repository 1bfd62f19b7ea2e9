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
        # Hub Santé (issue 21): the RS-SAS-RDV back to the LRM that sent the case.
        from relais.interop.hub.services import booking_changed as hub_booking_changed

        events.subscribe_booking_changed(hub_booking_changed)
        # Core's middleware answers its refusals under /fhir/ (NUL bytes, input limits) with
        # our OperationOutcome; core imports no app, so interop registers the body.
        from relais.core.middleware import register_door_error

        register_door_error("/fhir/", _fhir_error)


def _fhir_error(status: int, message: str):
    from relais.interop.views import fhir_error

    return fhir_error(status, message)
