"""Forms of the people pages and of the invitation / password reset (French)."""

from django import forms
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm

from relais.accounts.models import Role
from relais.core import ratelimit


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    first_name = forms.CharField(label="Prénom", max_length=150)
    last_name = forms.CharField(label="Nom", max_length=150)
    role = forms.ChoiceField(label="Rôle")
    territory = forms.ChoiceField(label="Territoire (SAS ou CPTS)")

    def __init__(self, *args, roles=(), territories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r, Role(r).label) for r in roles]
        self.fields["territory"].choices = territories


class InvitationPasswordForm(SetPasswordForm):
    """Django's SetPasswordForm (its validators), French labels."""

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.fields["new_password1"].label = "Choisissez un mot de passe"
        self.fields["new_password2"].label = "Confirmez-le"
        self.error_messages = {
            **self.error_messages,
            "password_mismatch": "Les deux mots de passe ne sont pas identiques.",
        }


RESET_LIMITS_IP = (ratelimit.Limit(5, 600), ratelimit.Limit(30, 86400))
RESET_LIMITS_EMAIL = (ratelimit.Limit(3, 3600),)


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form (it answers the same whether the address is known or not), with
    the per-address and per-e-mail limits of relais.core.ratelimit: refused silently past
    the limit for one e-mail (no enumeration), with a message past the limit of an address."""

    email = forms.EmailField(label="Votre adresse e-mail", max_length=254)

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        decision = ratelimit.hit("pwreset-ip", ratelimit.client_ip(self.request), RESET_LIMITS_IP)
        if not decision.allowed:
            raise forms.ValidationError(
                "Trop de demandes de réinitialisation depuis cette adresse : réessayez dans "
                f"{max(1, decision.retry_after // 60)} minutes.",
                code="throttled",
            )
        return data

    def save(self, *args, **kwargs):
        email = (self.cleaned_data.get("email") or "").lower()
        if not ratelimit.hit("pwreset-email", email, RESET_LIMITS_EMAIL).allowed:
            return  # the same answer as any other address: nothing says it was refused
        return super().save(*args, **kwargs)
