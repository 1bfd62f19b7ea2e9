"""Login (throttled), then the second factor (TOTP through django-otp) for the roles that
require it; Pro Santé Connect (OpenID Connect through Authlib) as an alternative."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from relais.accounts import oidc
from relais.accounts.forms import ThrottledAuthenticationForm, TotpCodeForm
from relais.accounts.services import (
    LOGIN_DEVICE_COOKIE,
    login_device_token,
    otp_confirmation_device,
    otp_device_confirm,
    otp_device_for,
    otp_enrolment_code_check,
    otp_enrolment_device,
    otp_verify,
    two_factor_required_for,
)
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError

SESSION_2FA = "relais_2fa_verified"
SESSION_2FA_FAILURES = "relais_2fa_failures"
SESSION_NEXT = "relais_2fa_next"
SESSION_PENDING_DEVICE = "relais_2fa_pending_device"
SESSION_CONFIRMATION_SENT = "relais_2fa_confirmation_sent"
# Wrong codes in one session before it is closed; the device keeps its own count (and
# its delays and lock) across sessions, so logging in again resets nothing.
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
            response = redirect("accounts:two_factor")
        # This browser is now known for this username: a stranger's failures elsewhere
        # do not delay it (relais.accounts.services, login throttling).
        response.set_cookie(
            LOGIN_DEVICE_COOKIE,
            login_device_token(username=self.request.user.get_username()),
            max_age=settings.RELAIS_LOGIN_DEVICE_DAYS * 86400,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response


def _next_url(request) -> str:
    url = request.session.pop(SESSION_NEXT, "") or settings.LOGIN_REDIRECT_URL
    if url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return redirect(settings.LOGIN_REDIRECT_URL).url


@login_required
def two_factor(request):
    """Second step of the login: the code of the authenticator app (or enrolment)."""
    if otp_device_for(user=request.user) is None:
        return redirect("accounts:two_factor_enrol")
    if request.session.get(SESSION_2FA):
        return redirect(_next_url(request))
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            verified = otp_verify(user=request.user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            form.add_error("code", exc.message)
            return render(request, "accounts/two_factor.html", {"form": form})
        if verified:
            request.session.cycle_key()
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
    no external service), a first code, then the link e-mailed to the account's address."""
    try:
        device = otp_enrolment_device(
            user=request.user, pending_id=request.session.get(SESSION_PENDING_DEVICE)
        )
    except ApplicationError:
        return redirect("accounts:two_factor")
    request.session[SESSION_PENDING_DEVICE] = device.pk
    sent = request.session.get(SESSION_CONFIRMATION_SENT) == device.pk
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            masked = otp_enrolment_code_check(
                user=request.user, device_id=device.pk, code=form.cleaned_data["code"]
            )
        except ApplicationError as exc:
            form.add_error("code", exc.message)
        else:
            request.session[SESSION_CONFIRMATION_SENT] = device.pk
            audit_record(user=request.user, action="create", obj=device, reason="enrôlement TOTP")
            if masked:
                messages.success(
                    request,
                    f"Un lien de confirmation a été envoyé à {masked}. Ouvrez-le pour "
                    "activer votre application d'authentification.",
                )
            else:
                messages.warning(
                    request,
                    "Votre compte n'a pas d'adresse e-mail : demandez à votre administrateur "
                    "de confirmer votre application d'authentification.",
                )
            return redirect("accounts:two_factor_enrol")
    key = device.config_url.split("secret=", 1)[1].split("&", 1)[0]
    return render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "sent": sent,
            "key": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
            "uri": device.config_url,
            "required": two_factor_required_for(request.user),
            "confirm_minutes": settings.RELAIS_OTP_CONFIRM_MINUTES,
        },
    )


@require_http_methods(["GET", "POST"])
def two_factor_confirm(request, token: str):
    """The e-mailed link: a page with a button (a mail scanner fetching the link confirms
    nothing), the signed token is the key."""
    try:
        if request.method == "POST":
            otp_device_confirm(token=token)
        else:
            otp_confirmation_device(token=token)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:login")
    if request.method == "POST":
        request.session.pop(SESSION_CONFIRMATION_SENT, None)
        request.session.pop(SESSION_PENDING_DEVICE, None)
        messages.success(
            request,
            "Application d'authentification confirmée : saisissez maintenant un code.",
        )
        if request.user.is_authenticated:
            return redirect("accounts:two_factor")
        return redirect("accounts:login")
    return render(request, "accounts/two_factor_confirm.html", {})


def oidc_start(request):
    try:
        return redirect(oidc.authorization_url(request=request))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:login")


def oidc_callback(request):
    try:
        user = oidc.oidc_complete(request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:login")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    # The provider authenticated strongly (Pro Santé Connect, acr eidas1: e-CPS or card).
    request.session[SESSION_2FA] = True
    audit_record(
        user=user, action="login", object_type="accounts.user", object_id=str(user.pk),
        reason="OpenID Connect",
    )  # fmt: skip
    return redirect(settings.LOGIN_REDIRECT_URL)
