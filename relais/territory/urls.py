from django.urls import path

from relais.territory import backoffice_views, views

app_name = "territory"
urlpatterns = [
    path("territoire/communes/", views.commune_autocomplete, name="communes"),
    path("administration/", backoffice_views.backoffice, name="backoffice"),
    path(
        "administration/sas/<uuid:public_id>/", backoffice_views.sas_settings, name="sas_settings"
    ),
    path("administration/cpts/", backoffice_views.cpts_list, name="cpts_list"),
    path("administration/cpts/nouvelle/", backoffice_views.cpts_new, name="cpts_new"),
    path(
        "administration/cpts/<uuid:public_id>/",
        backoffice_views.cpts_settings,
        name="cpts_settings",
    ),
]
