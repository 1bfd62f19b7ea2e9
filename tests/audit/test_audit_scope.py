"""An administrator sees the audit trail of their SAS only (docs/security.md)."""

import csv
import io

import pytest
from django.urls import reverse

from relais.accounts.models import Role
from relais.audit.services import audit_record
from relais.orientation.services import booking_create
from tests import factories as f
from tests.interop.conftest import make_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin91(sas91):
    return f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)


def test_it_shows_an_administrator_only_the_rows_of_their_sas(
    client, admin91, olivia, oscar, coralie, snp_request, sas43
):
    from relais.accounts.models import ApiClient

    make_token("slots:read", name="logiciel-91", sas_scope=[snp_request.sas])
    make_token("slots:read", name="logiciel-43", sas_scope=[sas43])
    booking = booking_create(request=snp_request, slot=f.SlotFactory())
    other_request = f.RequestFactory(patient__commune=f.commune("43157"))
    visible = {
        audit_record(user=olivia, action="read", object_type="x", object_id="olivia").pk,
        audit_record(user=coralie, action="read", object_type="x", object_id="coralie").pk,
        audit_record(api_client="logiciel-91", action="read", object_type="x", object_id="c91").pk,
        audit_record(system="task:t", action="read", obj=snp_request).pk,
        audit_record(patient_link=True, action="read", obj=snp_request.patient).pk,
        audit_record(system="task:t", action="update", obj=booking).pk,
    }
    hidden = {
        audit_record(user=oscar, action="read", object_type="x", object_id="oscar").pk,
        audit_record(api_client="logiciel-43", action="read", object_type="x", object_id="c43").pk,
        audit_record(system="task:t", action="read", obj=other_request).pk,
        audit_record(patient_link=True, action="read", obj=other_request.patient).pk,
    }
    assert ApiClient.objects.count() == 2
    client.force_login(admin91)
    page = client.get(reverse("audit:events"), {"action": "read"}).content.decode()
    for marker in ["olivia", "coralie", "c91"]:
        assert f"<td>{marker}</td>" in page
    for marker in ["oscar", "c43"]:
        assert f"<td>{marker}</td>" not in page
    export = client.get(reverse("audit:export"))
    rows = list(csv.reader(io.StringIO(export.content.decode()), delimiter=";"))[1:]
    shown = {(r[4], r[5], r[6]) for r in rows}
    from relais.audit.models import AuditEvent

    expected = {
        (e.action, e.object_type, e.object_id) for e in AuditEvent.objects.filter(pk__in=visible)
    }
    unexpected = {
        (e.action, e.object_type, e.object_id) for e in AuditEvent.objects.filter(pk__in=hidden)
    }
    assert expected <= shown
    assert not (unexpected & shown)


def test_it_shows_a_superuser_the_whole_trail(client, oscar):
    root = f.UserFactory(username="root", is_superuser=True, is_staff=True)
    f.member(root, Role.ADMIN)
    audit_record(user=oscar, action="read", object_type="x", object_id="oscar")
    client.force_login(root)
    page = client.get(reverse("audit:events"), {"action": "read"}).content.decode()
    assert "<td>oscar</td>" in page
