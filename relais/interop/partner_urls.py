"""Pages of the partner aggregation and of the SMART feed, included by page_urls
(namespace `interop`)."""

from django.urls import path

from relais.interop import partner_views, public_views

page_urlpatterns = [
    # The patient-facing page of a public slot (SMART booking-deep-link): no login.
    path("rdv/<uuid:public_id>/", public_views.public_slot, name="public_slot"),
    # Back-office of the partner sources (issue 17, item 6).
    path("partenaires/", partner_views.partner_list, name="partner_list"),
    path("partenaires/nouvelle/", partner_views.partner_new, name="partner_new"),
    path("partenaires/<int:pk>/", partner_views.partner_edit, name="partner_edit"),
    path("partenaires/<int:pk>/tester/", partner_views.partner_test, name="partner_test"),
    path("partenaires/<int:pk>/interroger/", partner_views.partner_poll_now, name="partner_poll"),
    path("partenaires/<int:pk>/etat/", partner_views.partner_set_active, name="partner_set_active"),
]
