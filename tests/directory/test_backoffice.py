"""Professionals, practices and join requests in the back-office: validated, scoped to
the manager's territory, audited."""

import pytest
from django.urls import reverse

from relais.accounts.models import Invitation, Role
from relais.audit.models import AuditEvent
from relais.directory.identifiers import luhn_key
from relais.directory.models import JoinRequest, Practice, Professional
from tests import factories as f

pytestmark = pytest.mark.django_db


def rpps(n: int) -> str:
    base = f"10{n:08d}"
    return base + luhn_key(base)


@pytest.fixture
def coord_a(cpts_a):
    return f.member(f.UserFactory(username="coordinatrice_a"), Role.COORDINATEUR, cpts=cpts_a)


def pro_form(cpts, **over):
    data = {
        "rpps": rpps(42),
        "adeli": "",
        "profession": "infirmier",
        "specialty": "",
        "first_name": "Inès",
        "last_name": "Petit",
        "phone": "0639980042",
        "email": "",
        "main_cpts": str(cpts.public_id),
        "sas_participant": "on",
    }
    data.update(over)
    return data


def test_a_coordinator_creates_edits_and_deactivates_a_professional(client, coord_a, cpts_a):
    client.force_login(coord_a)
    response = client.post(reverse("directory:professional_new"), pro_form(cpts_a))
    assert response.status_code == 302
    pro = Professional.objects.get(rpps=rpps(42))
    assert pro.cpts == cpts_a and pro.accepts_surnumeraire  # SAS participation implies it
    edit = reverse("directory:professional_edit", args=[pro.public_id])
    response = client.post(edit, pro_form(cpts_a, last_name="Petit-Durand"))
    assert response.status_code == 302
    pro.refresh_from_db()
    assert pro.last_name == "Petit-Durand"
    client.post(reverse("directory:professional_toggle", args=[pro.public_id]))
    pro.refresh_from_db()
    assert not pro.active
    reasons = set(
        AuditEvent.objects.filter(object_id=str(pro.public_id)).values_list("reason", flat=True)
    )
    assert {
        "annuaire : fiche créée",
        "annuaire : fiche modifiée",
        "annuaire : désactivé",
    } <= reasons


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"rpps": "10000000001"}, "clé de contrôle"),
        ({"rpps": "123"}, "11 chiffres"),
        ({"adeli": "91X"}, "ADELI compte 9"),
        ({"last_name": ""}, "obligatoire"),
    ],
)
def test_it_refuses_bad_identities_in_french(client, coord_a, cpts_a, over, message):
    client.force_login(coord_a)
    response = client.post(reverse("directory:professional_new"), pro_form(cpts_a, **over))
    assert response.status_code == 200 and message in response.content.decode()
    assert not Professional.objects.filter(last_name="Petit").exists()


def test_a_duplicate_rpps_is_refused(client, coord_a, cpts_a, dr_alice):
    Professional.objects.filter(pk=dr_alice.pk).update(rpps=rpps(7))
    client.force_login(coord_a)
    response = client.post(reverse("directory:professional_new"), pro_form(cpts_a, rpps=rpps(7)))
    assert "déjà celui d&#x27;un professionnel" in response.content.decode()


def test_a_coordinator_of_cpts_b_cannot_see_or_edit_cpts_a_professionals(
    client, coralie, dr_alice, cpts_a
):
    client.force_login(coralie)
    assert (
        dr_alice.last_name
        not in client.get(reverse("directory:professional_list")).content.decode()
    )
    edit = reverse("directory:professional_edit", args=[dr_alice.public_id])
    assert client.get(edit).status_code == 404
    assert client.post(edit, pro_form(cpts_a, rpps=dr_alice.rpps)).status_code == 404
    assert (
        client.post(reverse("directory:professional_toggle", args=[dr_alice.public_id])).status_code
        == 404
    )
    dr_alice.refresh_from_db()
    assert dr_alice.active
    # nor put someone into CPTS A
    response = client.post(reverse("directory:professional_new"), pro_form(cpts_a))
    assert response.status_code == 200 and not Professional.objects.filter(rpps=rpps(42)).exists()


def test_a_coordinator_keeps_the_other_cpts_she_does_not_manage(
    client, coralie, cpts_a, cpts_b, dr_alice
):
    """Dr Alice (main CPTS A) joins CPTS B as a further CPTS; CPTS B's coordinator edits
    her but cannot drop CPTS A."""
    dr_alice.other_cpts.add(cpts_b)
    client.force_login(coralie)
    edit = reverse("directory:professional_edit", args=[dr_alice.public_id])
    data = pro_form(
        cpts_b,
        rpps=dr_alice.rpps,
        profession="medecin",
        main_cpts="",
        other_cpts=[str(cpts_b.public_id)],
    )
    assert client.post(edit, data).status_code == 302
    dr_alice.refresh_from_db()
    assert dr_alice.cpts == cpts_a and dr_alice.cpts_ids() == [cpts_a.pk, cpts_b.pk]


def test_a_practice_address_resolves_to_its_commune_and_centroid(client, coord_a, cpts_a, dr_alice):
    f.commune("91174")
    client.force_login(coord_a)
    data = {
        "name": "Maison de santé du Port",
        "address": "3 quai de l'Essonne",
        "postal_code": "91100",
        "city": "corbeil essonnes",
        "phone": "",
        "professionals": [str(dr_alice.public_id)],
    }
    response = client.post(reverse("directory:practice_new"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    practice = Practice.objects.get(name="Maison de santé du Port")
    assert practice.commune.insee == "91174"
    assert (practice.latitude, practice.longitude) == (48.59732, 2.464555)
    assert list(practice.professionals.all()) == [dr_alice]
    # moved by hand a little: kept; far away: refused
    edit = reverse("directory:practice_edit", args=[practice.public_id])
    client.post(edit, {**data, "latitude": "48.6001", "longitude": "2.4702"})
    practice.refresh_from_db()
    assert (practice.latitude, practice.longitude) == (48.6001, 2.4702)
    response = client.post(edit, {**data, "latitude": "43.3", "longitude": "5.4"})
    assert "trop loin" in response.content.decode()


@pytest.mark.parametrize(
    ("postal_code", "city", "message"),
    [
        ("99999", "Nulle-Part", "Aucune commune n&#x27;a le code postal 99999"),
        ("9100", "Évry", "Code postal invalide"),
        ("91000", "Étampes", "pas de « Étampes »"),
        ("43000", "Le Puy-en-Velay", "pas dans votre territoire"),
    ],
)
def test_an_address_that_resolves_to_no_commune_of_the_territory_is_refused(
    client, coord_a, postal_code, city, message
):
    f.commune("91228"), f.commune("43157")
    client.force_login(coord_a)
    data = {"name": "Cabinet", "address": "1 rue X", "postal_code": postal_code, "city": city}
    response = client.post(reverse("directory:practice_new"), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert not Practice.objects.filter(name="Cabinet").exists()


def join_form(**over):
    data = {
        "rpps": rpps(77),
        "profession": "kine",
        "first_name": "Paul",
        "last_name": "Kiné",
        "email": "paul@example.invalid",
        "phone": "",
        "message": "Je consulte à Évry.",
    }
    data.update(over)
    return data


def test_a_professional_asks_to_join_and_the_coordinator_accepts(client, coord_a, cpts_a):
    url = reverse("directory:join_request", args=[cpts_a.public_id])
    assert client.get(url).status_code == 200  # public page
    response = client.post(url, join_form())
    assert "Demande envoyée" in response.content.decode()
    client.post(url, join_form())  # a second click: still one pending request
    join = JoinRequest.objects.get()
    client.force_login(coord_a)
    assert "Paul" in client.get(reverse("directory:join_requests")).content.decode()
    client.post(reverse("directory:join_decide", args=[join.public_id]), {"decision": "accept"})
    pro = Professional.objects.get(rpps=rpps(77))
    assert pro.cpts == cpts_a and pro.profession == "kine"
    invitation = Invitation.objects.get()
    assert (
        invitation.role == Role.EFFECTEUR
        and invitation.cpts == cpts_a
        and pro.user == invitation.user
    )
    # decided once only
    response = client.post(
        reverse("directory:join_decide", args=[join.public_id]), {"decision": "refuse"}
    )
    assert JoinRequest.objects.get().status == "accepted"
    assert response.status_code == 302


def test_a_join_request_with_a_bad_rpps_is_refused_and_the_page_is_rate_limited(
    client, cpts_a, settings
):
    url = reverse("directory:join_request", args=[cpts_a.public_id])
    response = client.post(url, join_form(rpps="10000000001"))
    assert "clé de contrôle" in response.content.decode() and not JoinRequest.objects.exists()
    from relais.core.ratelimit import Limit

    settings.RELAIS_JOIN_LIMITS = (Limit(3, 600),)  # the refused post above counted too
    for n in range(2):
        client.post(url, join_form(rpps=rpps(100 + n)))
    response = client.post(url, join_form(rpps=rpps(200)))
    assert "Trop de demandes" in response.content.decode()
    assert JoinRequest.objects.count() == 2


def test_the_coordinator_of_cpts_b_cannot_decide_for_cpts_a(client, coralie, cpts_a):
    join = JoinRequest.objects.create(
        cpts=cpts_a,
        rpps=rpps(5),
        profession="medecin",
        first_name="A",
        last_name="B",
        email="a@example.invalid",
    )
    client.force_login(coralie)
    response = client.post(
        reverse("directory:join_decide", args=[join.public_id]), {"decision": "accept"}
    )
    assert response.status_code == 404
    assert JoinRequest.objects.get().status == "pending" and not Invitation.objects.exists()
