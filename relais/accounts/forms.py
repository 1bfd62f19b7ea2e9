from django import forms
from django.contrib.auth.forms import AuthenticationForm

from relais.accounts.services import (
    LOGIN_DEVICE_COOKIE,
    login_device_for,
    login_failure_record,
    login_success_reset,
    login_throttle_check,
)
from relais.core.errors import ApplicationError
from relais.core.ratelimit import client_ip

__all__ = ["ThrottledAuthenticationForm", "TotpCodeForm", "client_ip"]


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, throttled per username + address, per username, per address
    and against spraying (relais.accounts.services); a known browser of the user skips the
    delays a stranger's failures cause."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Identifiant ou mot de passe incorrect.",
        "inactive": "Identifiant ou mot de passe incorrect.",
    }

    def clean(self):
        username = self.data.get("username", "")
        ip = client_ip(self.request)
        cookies = self.request.COOKIES if self.request is not None else {}
        device = login_device_for(token=cookies.get(LOGIN_DEVICE_COOKIE, ""), username=username)
        try:
            login_throttle_check(username=username, ip=ip, device=device)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code="throttled") from None
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_failure_record(username=username, ip=ip, device=device)
            raise
        login_success_reset(username=username, ip=ip, device=device)
        return cleaned


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label="Code à 6 chiffres",
        max_length=7,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
