"""The adresseur role (a pharmacist, nurse or physio who refers): refers a patient and
follows their own referrals, nothing else."""

import pytest
from django.urls import reverse

from relais.accounts.models import Role
from relais.regulation.models import Request
from tests import factories as f

pytestmark = pytest.mark.django_db

REFERRAL = {
    "last_name": "Martin", "first_name": "Paul", "phone": "0639981111",
    "commune": "Évry-Courcouronnes (91000) — 91228", "channel": "professional",
    "motif": "R21", "urgency": "12-24h",
}  # fmt: skip


def referrer(username, cpts, profession):
    user = f.member(f.UserFactory(username=username), Role.ADRESSEUR, cpts=cpts)
    f.ProfessionalFactory(profession=profession, user=user, last_name=username.capitalize())
    return user


def test_a_referrer_refers_then_follows_only_their_own_referrals(client, cpts_a):
    nurse = referrer("infirmiere", cpts_a, "infirmier")
    physio = referrer("kine", cpts_a, "kine")
    client.force_login(nurse)
    assert client.get(reverse("core:home"))["Location"] == reverse("referrals:mine")
    client.post(reverse("regulation:referral_new"), REFERRAL)
    req = Request.objects.get()
    assert req.channel == "professional" and req.created_by == nurse
    page = client.get(reverse("referrals:mine")).content.decode()
    assert req.reference in page and "À orienter" in page
    assert client.get(reverse("regulation:request_detail", args=[req.public_id])).status_code == 403
    assert client.get(reverse("agenda:index")).status_code == 403
    assert client.get(reverse("orientation:my_patients")).status_code == 403
    client.force_login(physio)
    assert req.reference not in client.get(reverse("referrals:mine")).content.decode()


def test_people_without_the_role_cannot_open_the_page(client, olivia, coralie):
    for user in (olivia, coralie):
        client.force_login(user)
        assert client.get(reverse("referrals:mine")).status_code == 403


def test_a_secretary_lands_on_the_agenda(client, cpts_a):
    secretary = f.member(f.UserFactory(username="secretaire"), Role.DELEGATAIRE, cpts=cpts_a)
    client.force_login(secretary)
    assert client.get(reverse("core:home"))["Location"] == reverse("agenda:index")
