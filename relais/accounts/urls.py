from django.contrib.auth import views as auth_views
from django.urls import include, path

from relais.accounts import api_clients_views, people_views, views

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
    # People and roles, invitations, password reset (relais/accounts/people_views.py).
    path("administration/personnes/", people_views.people, name="people"),
    path("administration/personnes/inviter/", people_views.invite, name="invite"),
    path("administration/personnes/<int:pk>/", people_views.person, name="person"),
    path(
        "administration/personnes/<int:pk>/activation/",
        people_views.person_toggle,
        name="person_toggle",
    ),
    path(
        "administration/personnes/<int:pk>/roles/<int:membership_pk>/retirer/",
        people_views.membership_delete,
        name="membership_delete",
    ),
    path(
        "connexion/invitation/<str:token>/",
        people_views.invitation_accept_view,
        name="invitation_accept",
    ),
    path(
        "connexion/mot-de-passe-oublie/",
        people_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "connexion/mot-de-passe-oublie/envoye/",
        people_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "connexion/reinitialiser/<uidb64>/<token>/",
        people_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "connexion/reinitialiser/termine/",
        people_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # API clients (relais/accounts/api_clients_views.py).
    path("", include(api_clients_views.urlpatterns)),
]
