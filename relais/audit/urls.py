from django.urls import path

from relais.audit import views

app_name = "audit"
urlpatterns = [
    path("journal-audit/", views.events, name="events"),
    path("journal-audit/export.csv", views.export, name="export"),
]
