from django.contrib.auth import views as auth_views
from django.urls import include, path

from relais.accounts import api_clients_views, views

app_name = "accounts"
urlpatterns = [
    path("connexion/", views.LoginView.as_view(), name="login"),
    path("connexion/verification/", views.two_factor, name="two_factor"),
    path("connexion/double-authentification/", views.two_factor_enrol, name="two_factor_enrol"),
    path(
        "connexion/double-authentification/confirmer/<str:token>/",
        views.two_factor_confirm,
        name="two_factor_confirm",
    ),
    path("connexion/psc/", views.oidc_start, name="oidc_start"),
    path("connexion/psc/retour/", views.oidc_callback, name="oidc_callback"),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="logout"),
    # API clients (relais/accounts/api_clients_views.py).
    path("", include(api_clients_views.urlpatterns)),
]
