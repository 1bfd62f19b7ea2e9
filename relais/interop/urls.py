from django.urls import include, path, re_path

from relais.interop import regulators, views

app_name = "fhir"
urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path("Slot", views.slot_search, name="slot_search"),
    path("Slot/<str:resource_id>", views.slot_read, name="slot_read"),
    path("Schedule/<str:resource_id>", views.schedule_read, name="schedule_read"),
    path("Practitioner/<str:resource_id>", views.practitioner_read, name="practitioner_read"),
    path("Appointment/<str:resource_id>", views.appointment_read, name="appointment_read"),
    path("Appointment", views.appointment, name="appointment"),
    path("", include(regulators.fhir_urlpatterns)),  # INT_R02: POST/PUT/DELETE Practitioner
    path("$bulk-publish", views.bulk_publish, name="bulk_publish"),
    path("bulk/<str:kind>.ndjson", views.bulk_file, name="bulk_file"),
    # Keep last: any other address under /fhir/ answers an OperationOutcome 404.
    re_path(r"^(?P<rest>.*)$", views.not_found, name="not_found"),
]
