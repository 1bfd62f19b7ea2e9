from django.urls import path

from relais.agenda import views

app_name = "agenda"
P = "pro/agenda/<uuid:pro>/"
urlpatterns = [
    path("pro/agenda/", views.agenda_index, name="index"),
    path(P, views.agenda, name="agenda"),
    path(P + "regles/nouvelle/", views.rule_new, name="rule_new"),
    path(P + "regles/<uuid:rule_id>/", views.rule_edit, name="rule_edit"),
    path(P + "regles/<uuid:rule_id>/supprimer/", views.rule_remove, name="rule_remove"),
    path(P + "absences/", views.absence_new, name="absence_new"),
    path(P + "absences/<uuid:absence_id>/supprimer/", views.absence_remove, name="absence_remove"),
    path(P + "creneaux/nouveau/", views.slot_new, name="slot_new"),
    path(P + "creneaux/<uuid:slot_id>/fermer/", views.slot_close, name="slot_close"),
    path(P + "import/", views.ics_import, name="import"),
    path(P + "ical/", views.feed_settings, name="feed_settings"),
    path(P + "releve/", views.statement, name="statement"),
    path(P + "participation/", views.participation, name="participation"),
    path(P + "delegations/", views.delegations, name="delegations"),
    path("agenda/ical/<str:token>.ics", views.feed, name="feed"),
]
