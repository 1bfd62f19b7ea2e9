from django.urls import path

from relais.interop import views

app_name = "fhir"
urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path("Slot", views.slot_search, name="slot_search"),
    path("Appointment", views.appointment, name="appointment"),
    path("$bulk-publish", views.bulk_publish, name="bulk_publish"),
    path("bulk/<str:kind>.ndjson", views.bulk_file, name="bulk_file"),
]
