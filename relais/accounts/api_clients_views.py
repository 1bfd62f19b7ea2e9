"""Back-office pages of the API clients (issue 17 item 5): list with last use, create
with scopes and a territory limit, rotate the token, revoke, client certificate (mTLS).
Rules in relais.accounts.api_clients; a token is shown once, on the page that made it,
never in a URL."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from relais.accounts import api_clients as svc
from relais.accounts.permissions import require
from relais.accounts.services import API_SCOPES
from relais.core.errors import ApplicationError, NotFound

MAX_CERT_BYTES = 20_000


def _manager(request) -> svc.Manager:
    manager = svc.manager_for(request.user)
    if not manager.any:
        raise PermissionDenied("Vous n'administrez aucun territoire.")
    return manager


def _client(request, public_id):
    try:
        return svc.api_client_get_for(manager=_manager(request), public_id=public_id)
    except NotFound:
        from django.http import Http404

        raise Http404("Client API introuvable.") from None


def _pem(upload) -> bytes | None:
    if upload is None:
        return None
    if upload.size > MAX_CERT_BYTES:
        raise forms.ValidationError("Fichier trop gros pour un certificat (20 ko au plus).")
    return upload.read()


class ApiClientForm(forms.Form):
    name = forms.CharField(label="Nom du client", max_length=100)
    scopes = forms.MultipleChoiceField(
        label="Portées", widget=forms.CheckboxSelectMultiple, choices=()
    )
    territory = forms.ChoiceField(label="Territoire", choices=())
    certificate = forms.FileField(
        label="Certificat client (PEM, facultatif)",
        required=False,
        help_text="Pour le TLS mutuel : le client s'authentifie par ce certificat, sans jeton.",
    )

    def __init__(self, *args, manager: svc.Manager, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(s, f"{s} — {API_SCOPES[s]}") for s in manager.scopes]
        self.fields["territory"].choices = svc.territories_for(manager)

    def clean_certificate(self):
        return _pem(self.cleaned_data.get("certificate"))


class CertificateForm(forms.Form):
    certificate = forms.FileField(label="Certificat client (PEM)")

    def clean_certificate(self):
        return _pem(self.cleaned_data.get("certificate"))


def _token_page(request, client, token, *, rotated=False):
    response = render(
        request,
        "accounts/api_clients/token.html",
        {"client": client, "token": token, "rotated": rotated},
    )
    response["Cache-Control"] = "no-store"  # the token, shown once, is kept nowhere
    return response


@require("api_clients.manage")
def api_client_list(request):
    manager = _manager(request)
    return render(
        request,
        "accounts/api_clients/list.html",
        {"clients": svc.api_clients_for(manager), "certificate_form": CertificateForm()},
    )


@require("api_clients.manage")
def api_client_new(request):
    manager = _manager(request)
    form = ApiClientForm(request.POST or None, request.FILES or None, manager=manager)
    if request.method == "POST" and form.is_valid():
        try:
            client, token = svc.api_client_create_limited(
                manager=manager,
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                territory=form.cleaned_data["territory"],
                pem=form.cleaned_data["certificate"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return _token_page(request, client, token)
    return render(request, "accounts/api_clients/new.html", {"form": form})


@require_POST
@require("api_clients.manage")
def api_client_rotate(request, public_id):
    client = _client(request, public_id)
    try:
        token = svc.api_client_rotate(client=client, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:api_clients")
    return _token_page(request, client, token, rotated=True)


@require_POST
@require("api_clients.manage")
def api_client_revoke(request, public_id):
    client = _client(request, public_id)
    try:
        svc.api_client_revoke_by(client=client, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Client API « {client.name} » révoqué : ses appels sont refusés."
        )
    return redirect("accounts:api_clients")


@require_POST
@require("api_clients.manage")
def api_client_certificate(request, public_id):
    client = _client(request, public_id)
    if request.POST.get("remove"):
        pem = None
    else:
        form = CertificateForm(request.POST, request.FILES)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return redirect("accounts:api_clients")
        pem = form.cleaned_data["certificate"]
    try:
        svc.api_client_certificate(client=client, user=request.user, pem=pem)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Certificat {'retiré' if pem is None else 'enregistré'} pour « {client.name} ».",
        )
    return redirect("accounts:api_clients")


urlpatterns = [
    path("administration/clients-api/", api_client_list, name="api_clients"),
    path("administration/clients-api/nouveau/", api_client_new, name="api_client_new"),
    path(
        "administration/clients-api/<uuid:public_id>/renouveler/",
        api_client_rotate,
        name="api_client_rotate",
    ),
    path(
        "administration/clients-api/<uuid:public_id>/revoquer/",
        api_client_revoke,
        name="api_client_revoke",
    ),
    path(
        "administration/clients-api/<uuid:public_id>/certificat/",
        api_client_certificate,
        name="api_client_certificate",
    ),
]
