"""People and roles by invitation: the e-mail goes through the outbox with a single-use,
expiring link; the password is chosen there, then the second factor where the role needs
it. Who may invite whom, where; deactivation."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from relais.accounts.invitations import invitation_create
from relais.accounts.models import Invitation, Membership, Role, User
from relais.audit.models import AuditEvent
from relais.core.errors import ApplicationError
from relais.notifications.models import Notification
from relais.notifications.services import notification_deliver
from tests import factories as f

pytestmark = pytest.mark.django_db
PASSWORD = "Relais-Invitation-2026!"


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin91(sas91):
    return f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)


def _deliver_and_link() -> str:
    notification = Notification.objects.filter(kind="invitation").latest("created_at")
    notification_deliver(notification_id=notification.pk)
    body = mail.outbox[-1].body
    return re.search(r"https?://[^/\s]+(/connexion/invitation/[^\s]+/)", body).group(1)


def invite_form(territory, **over):
    data = {
        "email": "nadia@example.invalid",
        "first_name": "Nadia",
        "last_name": "Roux",
        "role": "operateur",
        "territory": territory,
    }
    data.update(over)
    return data


def test_the_admin_invites_an_operator_who_sets_a_password_then_enrols_2fa(
    client, admin91, sas91, settings
):
    client.force_login(admin91)
    response = client.post(reverse("accounts:invite"), invite_form(f"sas:{sas91.public_id}"))
    assert response.status_code == 302
    user = User.objects.get(email="nadia@example.invalid")
    assert not user.has_usable_password()
    assert Membership.objects.filter(user=user, role=Role.OPERATEUR, sas=sas91).exists()
    link = _deliver_and_link()
    assert mail.outbox[-1].subject == "Relais : activez votre compte"
    assert "Nadia" not in mail.outbox[-1].subject
    client.logout()
    settings.RELAIS_2FA_REQUIRED = True  # as in production
    assert client.get(link).status_code == 200  # a GET (mail scanner) changes nothing
    assert Invitation.objects.get().accepted_at is None
    response = client.post(link, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response["Location"] == reverse("accounts:two_factor_enrol")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    # single use
    client.logout()
    response = client.post(
        link, {"new_password1": "Autre-Mot-2026!", "new_password2": "Autre-Mot-2026!"}
    )
    assert response["Location"] == reverse("accounts:login")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert AuditEvent.objects.filter(
        object_type="accounts.invitation", reason="invitation acceptée"
    ).exists()


def test_a_referrer_without_2fa_lands_on_the_home_page_and_can_refer(
    client, sas91, cpts_a, settings
):
    settings.RELAIS_2FA_REQUIRED = True  # not for the adresseur role
    coord = f.member(f.UserFactory(username="coordinatrice_a"), Role.COORDINATEUR, cpts=cpts_a)
    user, invitation = invitation_create(
        actor=coord,
        email="pharma@example.invalid",
        first_name="Phil",
        last_name="Armand",
        role=Role.ADRESSEUR,
        cpts=cpts_a,
    )
    link = _deliver_and_link()
    response = client.post(link, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response["Location"] == reverse("core:home")
    assert client.get(reverse("regulation:referral_new")).status_code == 200
    assert client.get(reverse("regulation:worklist")).status_code == 403  # least privilege
    assert client.get(reverse("agenda:index")).status_code == 403


def test_an_expired_or_unknown_link_is_refused_in_french(client, admin91, sas91):
    invitation_create(
        actor=admin91,
        email="late@example.invalid",
        first_name="L",
        last_name="T",
        role=Role.ARM,
        sas=sas91,
    )
    link = _deliver_and_link()
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.get(link, follow=True)
    assert "expiré" in response.content.decode()
    response = client.get(
        reverse("accounts:invitation_accept", args=["n-importe-quoi"]), follow=True
    )
    assert "invalide" in response.content.decode()


def test_a_weak_password_is_refused_by_djangos_validators(client, admin91, sas91):
    invitation_create(
        actor=admin91,
        email="w@example.invalid",
        first_name="W",
        last_name="K",
        role=Role.ARM,
        sas=sas91,
    )
    link = _deliver_and_link()
    response = client.post(link, {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200 and Invitation.objects.get().accepted_at is None


def test_a_new_invitation_revokes_the_previous_link(client, admin91, sas91):
    invitation_create(
        actor=admin91,
        email="x@example.invalid",
        first_name="X",
        last_name="Y",
        role=Role.ARM,
        sas=sas91,
    )
    first = _deliver_and_link()
    invitation_create(
        actor=admin91,
        email="x@example.invalid",
        first_name="X",
        last_name="Y",
        role=Role.REGULATEUR,
        sas=sas91,
    )
    second = _deliver_and_link()
    assert first != second
    assert "invalide" in client.get(first, follow=True).content.decode()
    assert client.get(second).status_code == 200


def test_an_existing_account_gets_the_role_without_a_new_link(admin91, sas91, olivia):
    olivia.email = "olivia@example.invalid"
    olivia.save(update_fields=["email"])
    user, invitation = invitation_create(
        actor=admin91,
        email="OLIVIA@example.invalid",
        first_name="",
        last_name="",
        role=Role.ARM,
        sas=sas91,
    )
    assert user == olivia and invitation is None
    assert set(olivia.memberships.values_list("role", flat=True)) == {Role.OPERATEUR, Role.ARM}


@pytest.mark.parametrize(
    ("role", "where", "message"),
    [
        (Role.ADMIN, "sas91", "Votre rôle ne permet pas"),  # a coordinator grants no admin
        (Role.ADMIN, "cpts_b", "s'exerce dans un SAS"),
        (Role.OPERATEUR, "sas91", "Votre rôle ne permet pas"),  # nor SAS roles
        (Role.EFFECTEUR, "cpts_a", "pas le vôtre"),  # nor in another CPTS
        (Role.EFFECTEUR, "sas91", "s'exerce dans une CPTS"),
    ],
)
def test_a_coordinator_invites_only_cpts_roles_in_her_cpts(
    coralie, sas91, cpts_a, cpts_b, role, where, message
):
    territory = {"cpts_a": {"cpts": cpts_a}, "cpts_b": {"cpts": cpts_b}, "sas91": {"sas": sas91}}[
        where
    ]
    with pytest.raises(ApplicationError, match=message):
        invitation_create(
            actor=coralie,
            email="z@example.invalid",
            first_name="Z",
            last_name="Z",
            role=role,
            **territory,
        )
    assert not User.objects.filter(email="z@example.invalid").exists()


def test_the_invite_page_offers_only_the_managers_territory(client, coralie, cpts_a, cpts_b):
    client.force_login(coralie)
    body = client.get(reverse("accounts:invite")).content.decode()
    assert "CPTS B (Étampes)" in body and "CPTS A (Évry)" not in body
    assert 'value="admin"' not in body and 'value="adresseur"' in body
    response = client.post(
        reverse("accounts:invite"), invite_form(f"cpts:{cpts_a.public_id}", role="effecteur")
    )
    assert (
        response.status_code == 200
        and not User.objects.filter(email="nadia@example.invalid").exists()
    )


def test_deactivation_and_role_removal_are_scoped(
    client, admin91, coralie, olivia, sas91, sas43, cpts_b
):
    client.force_login(coralie)
    assert client.get(reverse("accounts:person", args=[olivia.pk])).status_code == 404
    assert client.post(reverse("accounts:person_toggle", args=[olivia.pk])).status_code == 404
    client.force_login(admin91)
    assert client.post(reverse("accounts:person_toggle", args=[olivia.pk])).status_code == 302
    olivia.refresh_from_db()
    assert not olivia.is_active
    # someone who also works in SAS 43: the 91 admin removes the 91 role, not the account
    both = f.member(
        f.member(f.UserFactory(username="deux"), Role.ARM, sas_obj=sas91), Role.ARM, sas_obj=sas43
    )
    client.post(reverse("accounts:person_toggle", args=[both.pk]))
    both.refresh_from_db()
    assert both.is_active
    m91 = both.memberships.get(sas=sas91)
    m43 = both.memberships.get(sas=sas43)
    assert (
        client.post(reverse("accounts:membership_delete", args=[both.pk, m43.pk])).status_code
        == 404
    )
    client.post(reverse("accounts:membership_delete", args=[both.pk, m91.pk]))
    assert list(both.memberships.values_list("sas_id", flat=True)) == [sas43.pk]
    # and nobody deactivates themselves
    client.post(reverse("accounts:person_toggle", args=[admin91.pk]))
    admin91.refresh_from_db()
    assert admin91.is_active
