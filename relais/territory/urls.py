from django.urls import path

from relais.territory import views

app_name = "territory"
urlpatterns = [path("territoire/communes/", views.commune_autocomplete, name="communes")]
