from django.urls import path

from relais.directory import views

app_name = "directory"
urlpatterns = [path("annuaire/medecins/", views.doctor_autocomplete, name="doctors")]
