from django.urls import include, path

from relais.api import api

urlpatterns = [
    path("", include(("relais.accounts.home", "core"))),  # `core:home`: each role's landing
    path("", include("relais.accounts.urls")),
    path("", include("relais.regulation.urls")),
    path("", include("relais.regulation.referral_urls")),  # a referrer's own referrals
    path("", include("relais.orientation.urls")),
    path("", include("relais.territory.urls")),
    path("", include("relais.directory.urls")),
    path("", include("relais.indicators.urls")),
    path("", include("relais.agenda.urls")),
    path("", include("relais.audit.urls")),
    path("", include("relais.notifications.urls")),
    path("api/v1/", api.urls),
    path("fhir/", include("relais.interop.urls")),
    path("interop/", include("relais.interop.page_urls")),
]

handler403 = "relais.core.views.forbidden"
handler404 = "relais.core.views.not_found"
handler500 = "relais.core.outage.server_error"  # a database outage answers 503, not 500
