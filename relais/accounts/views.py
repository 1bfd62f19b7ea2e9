"""Login (throttled), then the second factor (TOTP) for the roles that require it."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from relais.accounts import oidc, totp
from relais.accounts.forms import ThrottledAuthenticationForm, TotpCodeForm
from relais.accounts.services import (
    totp_device_for_enrolment,
    totp_verify,
    two_factor_required_for,
)
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError

SESSION_2FA = "relais_2fa_verified"
SESSION_2FA_FAILURES = "relais_2fa_failures"
SESSION_NEXT = "relais_2fa_next"
MAX_CODE_FAILURES = 5


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = ThrottledAuthenticationForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc_enabled"] = oidc.oidc_config() is not None
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        self.request.session[SESSION_2FA] = False
        audit_record(
            user=self.request.user, action="login", object_type="accounts.user",
            object_id=str(self.request.user.pk), reason="mot de passe",
        )  # fmt: skip
        if two_factor_required_for(self.request.user):
            self.request.session[SESSION_NEXT] = self.get_success_url()
            return redirect("accounts:two_factor")
        return response


def _next_url(request) -> str:
    url = request.session.pop(SESSION_NEXT, "") or settings.LOGIN_REDIRECT_URL
    if url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return redirect(settings.LOGIN_REDIRECT_URL).url


@login_required
def two_factor(request):
    """Second step of the login: the code of the authenticator app (or enrolment)."""
    device = getattr(request.user, "totp_device", None)
    if device is None or device.confirmed_at is None:
        return redirect("accounts:two_factor_enrol")
    if request.session.get(SESSION_2FA):
        return redirect(_next_url(request))
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp_verify(user=request.user, code=form.cleaned_data["code"]):
            request.session[SESSION_2FA] = True
            request.session.pop(SESSION_2FA_FAILURES, None)
            audit_record(
                user=request.user, action="login", object_type="accounts.user",
                object_id=str(request.user.pk), reason="second facteur (TOTP)",
            )  # fmt: skip
            return redirect(_next_url(request))
        failures = request.session.get(SESSION_2FA_FAILURES, 0) + 1
        request.session[SESSION_2FA_FAILURES] = failures
        if failures >= MAX_CODE_FAILURES:
            logout(request)
            messages.error(request, "Trop de codes incorrects : reconnectez-vous.")
            return redirect(settings.LOGIN_URL)
        form.add_error("code", "Code incorrect ou déjà utilisé : attendez le suivant.")
    return render(request, "accounts/two_factor.html", {"form": form})


@login_required
def two_factor_enrol(request):
    """Enrol an authenticator app: the manual key and the otpauth:// URI (no QR code,
    no external service), then a first code to confirm."""
    try:
        device = totp_device_for_enrolment(user=request.user)
    except ApplicationError:
        return redirect("accounts:two_factor")
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp_verify(user=request.user, code=form.cleaned_data["code"]):
            request.session[SESSION_2FA] = True
            audit_record(user=request.user, action="create", obj=device, reason="enrôlement TOTP")
            messages.success(request, "Application d'authentification enregistrée.")
            return redirect(_next_url(request))
        form.add_error("code", "Code incorrect : vérifiez l'heure de votre téléphone.")
    key = " ".join(device.secret[i : i + 4] for i in range(0, len(device.secret), 4))
    return render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "key": key,
            "uri": totp.otpauth_uri(device.secret, account=request.user.get_username()),
            "required": two_factor_required_for(request.user),
        },
    )


def oidc_start(request):
    try:
        return redirect(oidc.authorization_url(session=request.session))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:login")


def oidc_callback(request):
    try:
        user = oidc.oidc_complete(
            session=request.session,
            code=request.GET.get("code", ""),
            state=request.GET.get("state", ""),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:login")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    # The provider authenticated strongly (Pro Santé Connect: e-CPS or card): no TOTP.
    request.session[SESSION_2FA] = True
    audit_record(
        user=user, action="login", object_type="accounts.user", object_id=str(user.pk),
        reason="OpenID Connect",
    )  # fmt: skip
    return redirect(settings.LOGIN_REDIRECT_URL)
