"""People and roles (invitations, deactivation), the invitation link and "mot de passe
oublié" through Django's own auth views. Thin: services in invitations.py."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from relais.accounts.backoffice import CPTS_ROLES, SAS_ROLES, managed_for
from relais.accounts.invitations import (
    invitation_accept,
    invitation_create,
    invitation_for_token,
    membership_remove,
    user_set_active,
)
from relais.accounts.people_forms import (
    InvitationPasswordForm,
    InviteForm,
    ThrottledPasswordResetForm,
)
from relais.accounts.permissions import require
from relais.accounts.selectors import (
    membership_managed_get,
    user_fully_managed,
    user_managed_get,
    users_managed,
)
from relais.core.errors import ApplicationError

PAGE = 100


@require("people.manage")
def people(request):
    managed = managed_for(request.user)
    query = request.GET.get("q", "")
    users = users_managed(managed=managed, query=query)
    return render(
        request,
        "accounts/people/list.html",
        {"people": users[:PAGE], "total": users.count(), "query": query[:100], "page": PAGE},
    )


def _territories(managed):
    from relais.territory.selectors import cpts_managed_list, sas_managed_list

    sas = [(f"sas:{s.public_id}", f"SAS — {s.name}") for s in sas_managed_list(managed=managed)]
    cpts = [(f"cpts:{c.public_id}", f"CPTS — {c.name}") for c in cpts_managed_list(managed=managed)]
    return sas + cpts


def _territory_of(value: str, managed):
    from relais.territory.selectors import cpts_managed_list, sas_managed_list

    kind, _, public_id = value.partition(":")
    if kind == "sas":
        return sas_managed_list(managed=managed).filter(public_id=public_id).first(), None
    return None, cpts_managed_list(managed=managed).filter(public_id=public_id).first()


@require("people.manage")
def invite(request):
    from relais.directory.selectors import professional_managed_get

    managed = managed_for(request.user)
    professional = None
    if request.GET.get("professionnel"):
        try:
            professional = professional_managed_get(
                managed=managed, public_id=request.GET["professionnel"]
            )
        except Exception:  # noqa: BLE001 - a bad id shows the empty form
            professional = None
    initial = {}
    if professional is not None:
        initial = {
            "email": professional.email, "first_name": professional.first_name,
            "last_name": professional.last_name, "role": "effecteur",
            "territory": f"cpts:{professional.cpts.public_id}" if professional.cpts else "",
        }  # fmt: skip
    form = InviteForm(
        request.POST or None,
        initial=initial,
        roles=managed.grantable_roles(),
        territories=_territories(managed),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        sas, cpts = _territory_of(data["territory"], managed)
        if data["role"] in SAS_ROLES and cpts is not None:
            form.add_error("territory", "Ce rôle s'exerce dans un SAS : choisissez un SAS.")
        elif data["role"] in CPTS_ROLES and sas is not None:
            form.add_error("territory", "Ce rôle s'exerce dans une CPTS : choisissez une CPTS.")
        else:
            try:
                user, invitation = invitation_create(
                    actor=request.user, email=data["email"], first_name=data["first_name"],
                    last_name=data["last_name"], role=data["role"], sas=sas, cpts=cpts,
                    professional=professional,
                )  # fmt: skip
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if invitation is None:
                    messages.success(request, f"Rôle ajouté au compte existant {user.username}.")
                else:
                    messages.success(request, f"Invitation envoyée à {invitation.email}.")
                return redirect("accounts:person", pk=user.pk)
    return render(
        request, "accounts/people/invite.html", {"form": form, "professional": professional}
    )


@require("people.manage")
def person(request, pk):
    managed = managed_for(request.user)
    user = user_managed_get(managed=managed, pk=pk)
    return render(
        request,
        "accounts/people/person.html",
        {"person": user, "fully_managed": user_fully_managed(managed=managed, user=user),
         "managed": managed},
    )  # fmt: skip


@require_POST
@require("people.manage")
def person_toggle(request, pk):
    managed = managed_for(request.user)
    user = user_managed_get(managed=managed, pk=pk)
    if not user_fully_managed(managed=managed, user=user):
        messages.error(
            request,
            "Cette personne a aussi des rôles hors de votre territoire : retirez-lui vos rôles "
            "plutôt que de désactiver son compte.",
        )
        return redirect("accounts:person", pk=user.pk)
    try:
        user_set_active(actor=request.user, user=user, active=not user.is_active)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Compte réactivé." if not user.is_active else "Compte désactivé.")
    return redirect("accounts:person", pk=user.pk)


@require_POST
@require("people.manage")
def membership_delete(request, pk, membership_pk):
    managed = managed_for(request.user)
    user = user_managed_get(managed=managed, pk=pk)
    membership = membership_managed_get(managed=managed, user=user, pk=membership_pk)
    try:
        membership_remove(actor=request.user, membership=membership)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Rôle retiré.")
    if users_managed(managed=managed).filter(pk=user.pk).exists():
        return redirect("accounts:person", pk=user.pk)
    return redirect("accounts:people")


def invitation_accept_view(request, token: str):
    """The e-mailed link: choose a password, then (roles that require it) enrol the
    authenticator app. A mail scanner's GET changes nothing."""
    from relais.accounts.services import two_factor_required_for
    from relais.accounts.views import SESSION_2FA

    try:
        invitation = invitation_for_token(token=token)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:login")
    form = InvitationPasswordForm(invitation.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept(token=token, password=form.cleaned_data["new_password1"])
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_2FA] = False
            if two_factor_required_for(user):
                messages.success(
                    request,
                    "Mot de passe enregistré. Votre rôle demande un second facteur : "
                    "enregistrez maintenant votre application d'authentification.",
                )
                return redirect("accounts:two_factor_enrol")
            messages.success(request, "Mot de passe enregistré : bienvenue sur Relais.")
            return redirect("core:home")
    return render(
        request, "accounts/invitation_accept.html", {"form": form, "invitation": invitation}
    )


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    form_class = ThrottledPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        from django.conf import settings

        self.extra_email_context = {"site_url": settings.SITE_URL}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    form_class = InvitationPasswordForm
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        from relais.audit.services import audit_record

        response = super().form_valid(form)
        audit_record(user=form.user, action="update", obj=form.user,
                     reason="mot de passe réinitialisé")  # fmt: skip
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
