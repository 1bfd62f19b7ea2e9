from django.urls import path

from relais.orientation import views

app_name = "orientation"
urlpatterns = [
    path("demandes/<uuid:public_id>/creneaux/", views.ranked_slots, name="ranked_slots"),
    path("demandes/<uuid:public_id>/reserver/", views.book, name="book"),
    path("demandes/<uuid:public_id>/retenir/", views.hold, name="hold"),
    path("demandes/<uuid:public_id>/liberer/", views.release, name="release"),
    path("demandes/<uuid:public_id>/surnumeraire/", views.surnumeraire, name="surnumeraire"),
    path("demandes/<uuid:public_id>/niveau2/", views.level2, name="level2"),
    path("n2/<str:token>/", views.level2_offer, name="level2_offer"),
    path("rendez-vous/<uuid:public_id>/annuler/", views.cancel, name="cancel"),
    path(
        "pro/rendez-vous/<uuid:public_id>/refuser/",
        views.refuse_surnumeraire,
        name="refuse_surnumeraire",
    ),
    path("pro/patients/", views.my_patients, name="my_patients"),
    path("pro/rendez-vous/<uuid:public_id>/issue/", views.record_outcome, name="record_outcome"),
]
