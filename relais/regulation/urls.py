from django.urls import path

from relais.regulation import views, web_views

app_name = "regulation"
urlpatterns = [
    path("demande-en-ligne/<uuid:cpts_id>/", web_views.web_request, name="web_request"),
    path("suivi/<str:token>/", web_views.follow, name="follow"),
    path("demandes/", views.worklist, name="worklist"),
    path("demandes/en-direct/", views.worklist_live, name="worklist_live"),
    path("demandes/nouvelle/", views.request_new, name="request_new"),
    path("pro/adresser/", views.referral_new, name="referral_new"),
    path("demandes/motifs/", views.motif_suggest, name="motif_suggest"),
    path("demandes/questions-gravite/", views.red_flag_questions, name="red_flag_questions"),
    path("demandes/patients/", views.patient_lookup, name="patient_lookup"),
    path("demandes/<uuid:public_id>/", views.request_detail, name="request_detail"),
    path("demandes/<uuid:public_id>/cloturer/", views.request_close, name="request_close"),
    path("demandes/<uuid:public_id>/decision/", views.request_decide_view, name="request_decide"),
    path(
        "demandes/<uuid:public_id>/lever-alerte/", views.request_override, name="request_override"
    ),
    path("demandes/<uuid:public_id>/fusionner/", views.request_merge_view, name="request_merge"),
    path(
        "demandes/<uuid:public_id>/fiche-patient/",
        views.patient_contact_update,
        name="patient_contact",
    ),
    path(
        "demandes/<uuid:public_id>/export-patient/",
        views.patient_export_view,
        name="patient_export",
    ),
]
