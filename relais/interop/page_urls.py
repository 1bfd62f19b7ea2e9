from django.urls import include, path

from relais.interop import partner_urls, regulators, views
from relais.interop.hub import views as hub_views

app_name = "interop"
urlpatterns = [
    path("creneaux/<uuid:public_id>/", views.slot_open, name="slot_open"),
    path("comptes-rendus-sas/", views.sas_reports, name="sas_reports"),
    path("comptes-rendus-sas/<int:pk>/renvoyer/", views.sas_report_retry, name="sas_report_retry"),
    # Hub Santé (issue 21): its failures, beside the INT_R03 reports.
    path("comptes-rendus-sas/hub/", hub_views.hub_failures, name="hub_failures"),
    path("comptes-rendus-sas/hub/<int:pk>/renvoyer/", hub_views.hub_retry, name="hub_retry"),
    path("", include(regulators.page_urlpatterns)),  # the SAS deep link (INT_R02)
    path("", include(partner_urls.page_urlpatterns)),  # public slot page, partner sources
]
