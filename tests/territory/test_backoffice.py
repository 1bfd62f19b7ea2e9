"""SAS and CPTS settings pages: by the SAS administrator or the CPTS's coordinator only,
validated in French, audited, and read by the web form (service hours, closures)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from relais.accounts.models import Role
from relais.audit.models import AuditEvent
from relais.directory.identifiers import luhn_key
from relais.territory.models import Cpts
from relais.territory.service_hours import is_open
from tests import factories as f

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def admin91(sas91):
    return f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)


def settings_form(cpts, **over):
    data = {
        "name": cpts.name,
        "phone": "0199000000",
        "email": "contact@cpts.example",
        "address": "",
        "finess": cpts.finess,
        "siret": "",
        "majoration_eur": "",
        "majoration_weekly_cap": "",
        "forfait_eur": "",
        "closed": "",
        "communes": "91228 91174",
        "hours_1": "08:00-12:00, 14:00-18:00",
        "hours_6": "08:00-11:00",
    }
    data.update(over)
    return data


def test_the_coordinator_sets_hours_closures_and_communes_of_her_cpts(client, coralie, cpts_b):
    f.commune("91228"), f.commune("91174")
    client.force_login(coralie)
    url = reverse("territory:cpts_settings", args=[cpts_b.public_id])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        settings_form(cpts_b, closed="24/12/2029", majoration_eur="17.50", siret="73282932000074"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    cpts = Cpts.objects.get(pk=cpts_b.pk)
    assert cpts.service_hours["1"] == [["08:00", "12:00"], ["14:00", "18:00"]]
    assert cpts.service_hours["closed"] == ["2029-12-24"]
    assert str(cpts.majoration_eur) == "17.50" and cpts.siret == "73282932000074"
    assert sorted(cpts.communes.values_list("insee", flat=True)) == ["91174", "91228"]
    assert AuditEvent.objects.filter(object_type="territory.cpts", action="update").exists()
    # 24/12/2029 is a Monday: the web form stays closed although Monday 10:00 is open.
    assert not is_open(cpts.service_hours, datetime(2029, 12, 24, 10, tzinfo=PARIS))
    assert is_open(cpts.service_hours, datetime(2029, 12, 17, 10, tzinfo=PARIS))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hours_1", "18:00-08:00", "la fin doit suivre le début"),
        ("hours_1", "8h-midi", "n&#x27;est pas une plage"),
        ("hours_1", "08:00-12:00, 11:00-14:00", "chevauchent"),
        ("closed", "31/02/2029", "n&#x27;est pas une date"),
        ("finess", "910000001", "FINESS invalide"),
        ("siret", "73282932000075", "SIRET invalide"),
        ("communes", "43157", "hors du département"),
        ("communes", "99999", "Codes INSEE inconnus"),
    ],
)
def test_it_refuses_bad_settings_in_french(client, coralie, cpts_b, field, value, message):
    f.commune("43157")
    client.force_login(coralie)
    url = reverse("territory:cpts_settings", args=[cpts_b.public_id])
    before = Cpts.objects.values().get(pk=cpts_b.pk)
    response = client.post(url, settings_form(cpts_b, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Cpts.objects.values().get(pk=cpts_b.pk) == before


def test_a_coordinator_cannot_open_another_cpts(client, coralie, cpts_a):
    client.force_login(coralie)
    url = reverse("territory:cpts_settings", args=[cpts_a.public_id])
    assert client.get(url).status_code == 404
    assert client.post(url, settings_form(cpts_a, name="Piratée")).status_code == 404
    assert Cpts.objects.get(pk=cpts_a.pk).name == "CPTS A (Évry)"


def test_only_the_sas_admin_sets_the_radius_and_creates_a_cpts(
    client, admin91, coralie, sas91, sas43
):
    client.force_login(coralie)
    assert client.get(reverse("territory:sas_settings", args=[sas91.public_id])).status_code == 403
    assert client.get(reverse("territory:cpts_new")).status_code == 403
    client.force_login(admin91)
    url = reverse("territory:sas_settings", args=[sas91.public_id])
    response = client.post(url, {"name": "SAS de l'Essonne", "phone": "15", "radius_km": "15"})
    assert response.status_code == 302
    sas91.departement.refresh_from_db()
    assert sas91.departement.default_radius_km == 15
    response = client.post(url, {"name": "SAS", "phone": "15", "radius_km": "500"})
    assert "100" in response.content.decode()
    assert client.get(reverse("territory:sas_settings", args=[sas43.public_id])).status_code == 404
    finess = "91000012" + luhn_key("91000012")
    response = client.post(
        reverse("territory:cpts_new"),
        {
            "name": "CPTS Nouvelle",
            "finess": finess,
            "sas": str(sas91.public_id),
        },
    )
    assert response.status_code == 302
    assert Cpts.objects.get(name="CPTS Nouvelle").sas == sas91
    response = client.post(
        reverse("territory:cpts_new"),
        {
            "name": "CPTS Autre",
            "finess": "910000121",
            "sas": str(sas91.public_id),
        },
    )
    assert "FINESS invalide" in response.content.decode()
    response = client.post(
        reverse("territory:cpts_new"),
        {
            "name": "CPTS 43",
            "finess": finess,
            "sas": str(sas43.public_id),
        },
    )
    assert response.status_code == 200 and not Cpts.objects.filter(name="CPTS 43").exists()


def test_the_landing_page_shows_the_manager_their_territory_only(
    client, admin91, coralie, cpts_a, cpts_b
):
    client.force_login(coralie)
    body = client.get(reverse("territory:backoffice")).content.decode()
    assert "CPTS B (Étampes)" in body and "CPTS A (Évry)" not in body
    assert "Créer une CPTS" not in body
    client.force_login(admin91)
    body = client.get(reverse("territory:backoffice")).content.decode()
    assert "CPTS B (Étampes)" in body and "CPTS A (Évry)" in body and "Journal d'audit" in body
    assert f'href="{reverse("territory:backoffice")}">Administration</a>' in body  # the menu
