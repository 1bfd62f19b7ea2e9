"""The partner sources' back-office (issue 17, item 6): a SAS administrator creates,
edits, tests, polls and switches off the sources of their SAS; every error is a French
message on the form; other roles get 403, another SAS's source 404."""

import pytest
from django_tasks_db.models import DBTaskResult

from relais.accounts.models import Role
from relais.audit.models import AuditEvent
from relais.interop.models import PartnerSource
from tests import factories as f
from tests.conftest import login
from tests.interop.mock_partner import MockPartner

pytestmark = pytest.mark.django_db


@pytest.fixture
def adele(sas91):
    return f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)


@pytest.fixture
def hugo(sas43):
    return f.member(f.UserFactory(username="hugo"), Role.ADMIN, sas_obj=sas43)


@pytest.fixture
def mock(fake_endpoint, cpts_a):
    return MockPartner(fake_endpoint)


@pytest.fixture
def source(mock, sas91):
    return PartnerSource.objects.create(
        name="agenda-z", base_url=mock.url, token="s3cret", sas=sas91
    )


def form(sas, **extra):
    data = {
        "name": "agenda-neuf",
        "sas": str(sas.pk),
        "base_url": "https://agenda.example/fhir/",
        "booking_mode": "fhir",
        "poll_every_minutes": "10",
        "token": "jeton",
        "rpps_text": "",
    }
    data.update(extra)
    return data


def test_it_creates_a_source_of_the_admins_sas(client, adele, sas91, cpts_a):
    doctor = f.ProfessionalFactory(cpts=cpts_a)
    response = login(client, adele).post(
        "/interop/partenaires/nouvelle/", form(sas91, rpps_text=f"{doctor.rpps}\n")
    )
    assert response.status_code == 302
    source = PartnerSource.objects.get(name="agenda-neuf")
    assert source.sas == sas91 and source.rpps == [doctor.rpps] and source.token == "jeton"
    assert source.base_url == "https://agenda.example/fhir"
    assert AuditEvent.objects.filter(action="create", object_id=str(source.pk)).exists()
    page = client.get("/interop/partenaires/").content.decode()
    assert "agenda-neuf" in page and "jamais" in page


def test_it_refuses_bad_input_with_french_messages(client, adele, sas91, sas43, cpts_a):
    f.commune("43157")
    outsider = f.ProfessionalFactory(practice_in="43157")
    login(client, adele)
    cases = [
        (form(sas91, rpps_text="123"), "RPPS invalide"),
        (form(sas91, rpps_text=outsider.rpps), "hors du territoire de ce SAS"),
        (form(sas91, base_url="ftp://agenda.example"), "doit commencer par https://"),
        (form(sas91, poll_every_minutes="0"), "Entre 1 et 1 440 minutes"),
        (form(sas91, name="Pas un slug !"), "contenir que des lettres"),
        (form(sas43), "Sélectionnez un choix valide"),  # another SAS than the admin's
    ]
    for data, message in cases:
        response = client.post("/interop/partenaires/nouvelle/", data)
        assert response.status_code == 400, data
        assert message.lower() in response.content.decode().lower(), message
    assert not PartnerSource.objects.exists()


def test_it_keeps_the_token_when_left_blank_and_never_shows_it(client, adele, source):
    login(client, adele)
    page = client.get(f"/interop/partenaires/{source.pk}/").content.decode()
    assert "s3cret" not in page
    data = form(source.sas, name="autre-nom", token="", base_url=source.base_url)
    response = client.post(f"/interop/partenaires/{source.pk}/", data)
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.token == "s3cret" and source.poll_every_minutes == 10
    assert source.name == "agenda-z"  # the name is the mirrors' source: fixed


def test_it_tests_the_connection_and_shows_the_last_poll(client, adele, source, mock, cpts_a):
    login(client, adele)
    response = client.post(f"/interop/partenaires/{source.pk}/tester/", follow=True)
    assert "Connexion réussie (FHIR 4.0.1)" in response.content.decode()
    from relais.interop.services import partner_poll

    mock.endpoint.responder = lambda m, p, b: (503, {})
    f.ProfessionalFactory(cpts=cpts_a)
    partner_poll(source=source)
    page = client.get(f"/interop/partenaires/{source.pk}/").content.decode()
    assert "Dernière erreur : HTTP 503" in page
    assert "1 erreur(s)" in page


def test_it_queues_a_poll_and_switches_a_source_off(client, adele, source):
    login(client, adele)
    client.post(f"/interop/partenaires/{source.pk}/interroger/")
    assert DBTaskResult.objects.filter(task_path__endswith="poll_partner").count() == 1
    client.post(f"/interop/partenaires/{source.pk}/etat/", {"active": "0"})
    source.refresh_from_db()
    assert not source.active
    # A disabled source is not polled on demand either.
    response = client.post(f"/interop/partenaires/{source.pk}/interroger/", follow=True)
    assert "Source désactivée" in response.content.decode()
    assert DBTaskResult.objects.filter(task_path__endswith="poll_partner").count() == 1
    assert (
        client.post(f"/interop/partenaires/{source.pk}/etat/", {"active": "x"}).status_code == 302
    )
    source.refresh_from_db()
    assert not source.active


def test_it_refuses_other_roles_and_other_territories(client, source, olivia, hugo):
    assert login(client, olivia).get("/interop/partenaires/").status_code == 403
    client.logout()
    login(client, hugo)
    assert client.get("/interop/partenaires/").status_code == 200
    assert "agenda-z" not in client.get("/interop/partenaires/").content.decode()
    assert client.get(f"/interop/partenaires/{source.pk}/").status_code == 404
    assert (
        client.post(f"/interop/partenaires/{source.pk}/etat/", {"active": "0"}).status_code == 404
    )
    source.refresh_from_db()
    assert source.active
    client.logout()
    assert client.get("/interop/partenaires/").status_code == 302
