from django.urls import path

from relais.notifications import views

app_name = "notifications"

urlpatterns = [
    path("messages-en-echec/", views.failed, name="failed"),
    path("messages-en-echec/<uuid:public_id>/renvoyer/", views.resend, name="resend"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
]
