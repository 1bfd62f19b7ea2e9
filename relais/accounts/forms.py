from django import forms
from django.contrib.auth.forms import AuthenticationForm

from relais.accounts.services import (
    login_failure_record,
    login_success_reset,
    login_throttle_check,
)
from relais.core.errors import ApplicationError


def client_ip(request) -> str:
    """REMOTE_ADDR: behind a reverse proxy, have the proxy set it (see docs/security.md)."""
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, refused for a while after repeated failures per username + IP."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Identifiant ou mot de passe incorrect.",
        "inactive": "Identifiant ou mot de passe incorrect.",
    }

    def clean(self):
        username = self.data.get("username", "")
        ip = client_ip(self.request)
        try:
            login_throttle_check(username=username, ip=ip)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code="throttled") from None
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_failure_record(username=username, ip=ip)
            raise
        login_success_reset(username=username, ip=ip)
        return cleaned


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label="Code à 6 chiffres",
        max_length=7,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
