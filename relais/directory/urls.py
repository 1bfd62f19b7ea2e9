from django.urls import path

from relais.directory import backoffice_views as bo
from relais.directory import views

app_name = "directory"
A = "administration/"
urlpatterns = [
    path("annuaire/medecins/", views.doctor_autocomplete, name="doctors"),
    path(A + "professionnels/", bo.professional_list, name="professional_list"),
    path(A + "professionnels/nouveau/", bo.professional_new, name="professional_new"),
    path(A + "professionnels/<uuid:public_id>/", bo.professional_edit, name="professional_edit"),
    path(
        A + "professionnels/<uuid:public_id>/activation/",
        bo.professional_toggle,
        name="professional_toggle",
    ),
    path(A + "lieux/", bo.practice_list, name="practice_list"),
    path(A + "lieux/nouveau/", bo.practice_new, name="practice_new"),
    path(A + "lieux/<uuid:public_id>/", bo.practice_edit, name="practice_edit"),
    path(A + "import/", bo.import_upload, name="import_upload"),
    path(A + "import/modele.csv", bo.import_template, name="import_template"),
    path(A + "import/<uuid:public_id>/", bo.import_preview, name="import_preview"),
    path(A + "import/<uuid:public_id>/erreurs.csv", bo.import_errors, name="import_errors"),
    path(A + "adhesions/", bo.join_requests, name="join_requests"),
    path(A + "adhesions/<uuid:public_id>/", bo.join_decide, name="join_decide"),
    path("cpts/<uuid:public_id>/adhesion/", bo.join_request, name="join_request"),
]
