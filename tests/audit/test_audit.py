import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from relais.accounts.models import Role
from relais.accounts.services import api_client_create
from relais.audit.models import AuditEvent, AuditTrailIsAppendOnly
from relais.audit.services import audit_record
from relais.orientation.services import booking_create
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(sas91):
    return f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)


def test_it_offers_no_update_or_delete_of_an_audit_row(olivia):
    event = audit_record(user=olivia, action="read", object_type="x", object_id="1")
    event.reason = "changé"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(reason="changé")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.bulk_update([event], ["reason"])
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET reason = 'effacé' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
)
def test_it_is_refused_by_the_database_itself_on_postgresql(olivia, sql):
    event = audit_record(user=olivia, action="read", object_type="x", object_id="1")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, reason="").exists()


def test_it_records_who_with_which_role_read_a_request(client, regis, snp_request):
    client.force_login(regis)
    client.get(reverse("regulation:request_detail", args=[snp_request.public_id]))
    event = AuditEvent.objects.get(action="read", object_type="regulation.request")
    assert (event.user, event.role, event.object_id) == (
        regis,
        Role.REGULATEUR,
        str(snp_request.public_id),
    )
    assert event.reason == "fiche demande"


def test_it_records_an_api_client_read_as_api(client, snp_request):
    _, token = api_client_create(name="logiciel-x", scopes=["requests:read"])
    client.get(f"/api/v1/requests/{snp_request.public_id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    event = AuditEvent.objects.get(object_type="regulation.request")
    assert (event.api_client, event.role, event.user) == ("logiciel-x", "api", None)


def test_it_records_the_api_client_that_booked(client, snp_request):
    _, token = api_client_create(name="logiciel-x", scopes=["appointments:write", "requests:read"])
    slot = f.SlotFactory()
    response = client.post(
        "/api/v1/bookings",
        {"request": str(snp_request.public_id), "slot": str(slot.public_id)},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201
    event = AuditEvent.objects.get(object_type="orientation.booking", action="create")
    assert (event.api_client, event.role, event.user) == ("logiciel-x", "api", None)
    assert event.object_id == response.json()["id"]


def test_it_records_each_patient_shown_to_a_professional(client, dr_alice):
    booking = booking_create(request=f.RequestFactory(), slot=f.SlotFactory(professional=dr_alice))
    client.force_login(dr_alice.user)
    client.get(reverse("orientation:my_patients"))
    event = AuditEvent.objects.get(object_type="regulation.patient")
    assert event.object_id == str(booking.request.patient.public_id)
    assert event.role == Role.EFFECTEUR


def test_it_records_a_fhir_call(client):
    _, token = api_client_create(name="sas-national", scopes=["appointments:read"])
    client.get("/fhir/Appointment", HTTP_AUTHORIZATION=f"Bearer {token}")
    event = AuditEvent.objects.get(object_type="fhir.Appointment")
    assert (event.api_client, event.action, event.role) == ("sas-national", "read", "api")


def test_it_lists_and_filters_events_for_the_administrator(client, admin, olivia, regis):
    audit_record(user=olivia, action="read", object_type="regulation.request", object_id="a")
    audit_record(user=regis, action="create", object_type="regulation.request", object_id="b")
    audit_record(user=regis, action="read", object_type="regulation.patient", object_id="c")
    client.force_login(admin)
    page = client.get(reverse("audit:events")).content.decode()
    assert "3 événement(s)" in page
    page = client.get(reverse("audit:events"), {"username": "regis", "action": "read"})
    assert "1 événement(s)" in page.content.decode()
    assert "regulation.patient" in page.content.decode()
    page = client.get(reverse("audit:events"), {"object_type": "regulation.request"})
    assert "2 événement(s)" in page.content.decode()
    page = client.get(reverse("audit:events"), {"start": "2001-01-01", "end": "2001-01-31"})
    assert "0 événement(s)" in page.content.decode()


def test_it_explains_a_reversed_date_range(client, admin):
    client.force_login(admin)
    page = client.get(reverse("audit:events"), {"start": "2025-02-01", "end": "2025-01-01"})
    assert page.status_code == 200
    assert "La date de fin précède la date de début." in page.content.decode()


def test_it_exports_csv_and_audits_the_export(client, admin, olivia):
    audit_record(user=olivia, action="read", object_type="regulation.request", object_id="a")
    client.force_login(admin)
    response = client.get(reverse("audit:export"), {"username": "olivia"})
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("date;utilisateur;client API;rôle;action")
    assert len(lines) == 2 and ";olivia;" in lines[1]
    export = AuditEvent.objects.get(action="export")
    assert export.user == admin and "utilisateur=olivia" in export.reason


@pytest.mark.parametrize("who", ["olivia", "regis", "coralie", "oscar", "nobody"])
def test_it_refuses_the_audit_pages_to_other_roles(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("audit:events")).status_code == 403
    assert client.get(reverse("audit:export")).status_code == 403
    assert not AuditEvent.objects.filter(action="export").exists()
