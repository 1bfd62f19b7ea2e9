"""Every audit row names its actor: user, API client, patient (signed follow-up link or
public web form), professional (signed niveau-2 offer link) or system (task, command).

The doors test walks the main doors of Relais with no ambient actor (`audit_strict`): a door
that forgot to say who acts would make `audit_record` raise (a 500, so a failed assertion
here), and a row written without its actor would fail the per-row check."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from relais.audit.context import audit_actor
from relais.audit.models import ActorType, AuditEvent
from relais.audit.services import AuditActorMissing, audit_record, audit_record_reads
from relais.orientation.tokens import offer_token
from relais.regulation.models import Request
from relais.regulation.tokens import follow_token
from tests import factories as f
from tests.interop.conftest import bearer, make_token
from tests.interop.test_fhir_appointments import appointment
from tests.regulation.test_web_channel import HOURS, OPEN_TIME, answers

pytestmark = pytest.mark.django_db


def names_its_actor(event: AuditEvent) -> bool:
    if event.actor_type == ActorType.USER:
        return event.user_id is not None
    if event.actor_type == ActorType.API_CLIENT:
        return bool(event.api_client) and event.user_id is None
    return event.actor_type in ActorType.values and bool(event.actor_label)


@pytest.fixture
def worker(monkeypatch):
    """The real worker (`db_worker --batch`: its task_started/finished signals), kept off
    closing the test's connection between tasks (the test runs in one transaction)."""
    import django_tasks_db.management.commands.db_worker as db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    return lambda: call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)


def anonymous_under_the_old_rule(event: AuditEvent) -> bool:
    """What the issue measured: a row that names neither a user nor an API client."""
    return event.user_id is None and not event.api_client


# --- the unit rule ------------------------------------------------------------------------


@pytest.mark.audit_strict
def test_it_refuses_an_audit_row_without_an_actor():
    with pytest.raises(AuditActorMissing):
        audit_record(action="read", object_type="x", object_id="1")
    with pytest.raises(AuditActorMissing):
        audit_record_reads(objects=[f.PatientFactory()], reason="liste")
    assert not AuditEvent.objects.filter(object_type="x").exists()


@pytest.mark.audit_strict
def test_it_refuses_an_anonymous_user_as_the_actor(client):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(AuditActorMissing):
        audit_record(user=AnonymousUser(), action="read", object_type="x", object_id="1")


@pytest.mark.audit_strict
@pytest.mark.parametrize(
    ("kwargs", "kind", "label"),
    [
        ({"system": "task:anonymise_patients"}, ActorType.SYSTEM, "task:anonymise_patients"),
        ({"patient_link": True}, ActorType.PATIENT_LINK, "lien de suivi"),
        ({"public_form": True}, ActorType.PUBLIC_FORM, "formulaire web"),
        ({"api_client": "logiciel-x"}, ActorType.API_CLIENT, ""),
    ],
)
def test_it_records_each_kind_of_actor(kwargs, kind, label):
    event = audit_record(action="read", object_type="x", object_id="1", **kwargs)
    assert (event.actor_type, event.actor_label) == (kind, label)
    assert names_its_actor(AuditEvent.objects.get(pk=event.pk))


@pytest.mark.audit_strict
def test_it_names_the_block_actor_of_a_command(olivia):
    with audit_actor(system="command:anonymise_patients"):
        event = audit_record(action="anonymise", object_type="x", object_id="1")
        # an explicit user still wins over the block's actor
        mine = audit_record(user=olivia, action="read", object_type="x", object_id="2")
    assert (event.actor_type, event.actor_label) == ("system", "command:anonymise_patients")
    assert (mine.actor_type, mine.user) == ("user", olivia)


@pytest.mark.audit_strict
def test_it_names_the_task_run_by_the_worker(snp_request, worker):
    """A task run by the real worker (`db_worker --batch`) names itself; the notification
    delivery does not audit, so the retention task is queued and run."""
    from relais.regulation.tasks import anonymise_patients

    with audit_actor(system="test"):  # the setting-up, not under test
        old = f.RequestFactory(status="cancelled")
        Request.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=800))
        anonymise_patients.enqueue()
    worker()
    event = AuditEvent.objects.get(action="anonymise")
    assert (event.actor_type, event.actor_label) == ("system", "task:anonymise_patients")


# --- the doors ----------------------------------------------------------------------------


@pytest.mark.audit_strict
def test_it_names_the_actor_of_every_row_written_through_the_main_doors(
    client, olivia, cpts_a, capsys, settings, worker
):
    settings.RELAIS_WEB_FORM_POW = False  # the proof-of-work is tested in test_web_abuse
    with audit_actor(system="test"):  # fixtures only
        cpts_a.service_hours = HOURS
        cpts_a.save(update_fields=["service_hours"])
        f.commune("91174")
        slots = [f.SlotFactory() for _ in range(4)]
        volunteer = f.ProfessionalFactory(cpts_level2=True, practice_in="91228")
    doors = {}

    def door(name):
        doors[name] = AuditEvent.objects.order_by("pk").last()

    # 1. UI intake by an operator, then her request page and her booking
    client.force_login(olivia)
    intake = {
        "last_name": "Audit",
        "first_name": "Porte",
        "birth_date": "1970-01-02",
        "phone": "0639981111",
        "commune": "Évry-Courcouronnes — 91228",
        "channel": "phone",
        "motif_text": "toux",
        "urgency": "12-24h",
    }
    response = client.post(reverse("regulation:request_new"), intake)
    assert response.status_code == 302, response.content.decode()[:2000]
    ui_request = Request.objects.get(patient__last_name="Audit")
    assert client.get(response["Location"]).status_code == 200
    door("ui intake")
    client.logout()

    # 2. JSON API: a request, then a booking, with a token
    token = make_token("requests:write,requests:read,appointments:write", name="logiciel-porte")
    payload = {
        "patient": {
            "first_name": "Api",
            "last_name": "Porte",
            "phone": "0639982222",
            "commune_insee": "91228",
        },
        "motif_code": "a03",
        "urgency": "12-24h",
    }
    created = client.post(
        "/api/v1/requests", json.dumps(payload), content_type="application/json", **bearer(token)
    )
    assert created.status_code == 201, created.content
    booked = client.post(
        "/api/v1/bookings",
        json.dumps({"request": created.json()["id"], "slot": str(slots[0].public_id)}),
        content_type="application/json",
        **bearer(token),
    )
    assert booked.status_code == 201, booked.content
    door("api")

    # 3. FHIR: a booking (patient and request created on the way), then its cancellation
    fhir = make_token("slots:read,appointments:read,appointments:write", name="sas-porte")
    body = appointment(slots[1], ident="RDV-PORTE")
    response = client.post(
        "/fhir/Appointment", json.dumps(body), content_type="application/fhir+json", **bearer(fhir)
    )
    assert response.status_code == 201, response.content
    cancel = appointment(slots[1], ident="RDV-PORTE", status="cancelled")
    response = client.put(
        "/fhir/Appointment?identifier=https://sas.sante.fr/rdv|RDV-PORTE",
        json.dumps(cancel),
        content_type="application/fhir+json",
        **bearer(fhir),
    )
    assert response.status_code == 200, response.content
    door("fhir")

    # 4. the public web form, then the patient's signed follow-up link
    with time_machine.travel(OPEN_TIME):
        page = client.post(reverse("regulation:web_request", args=[cpts_a.public_id]), answers())
    assert page.status_code == 200
    web_request = Request.objects.get(channel="web")
    assert client.get(reverse("regulation:follow", args=[follow_token(web_request)])).status_code
    door("web form + follow link")

    # 5. niveau 2 launched by the operator, accepted by a volunteer through the signed link
    client.force_login(olivia)
    from relais.orientation.services import level2_launch

    call = level2_launch(request=ui_request, user=olivia)
    client.logout()
    offer = call.offers.get(professional=volunteer)
    start = timezone.localtime(timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page = client.post(
        reverse("orientation:level2_offer", args=[offer_token(offer)]),
        {"action": "accept", "start": start},
    )
    assert page.status_code == 200
    door("niveau 2 link")

    # 6. the tasks the doors queued and the nightly retention task, run by the real worker
    from relais.regulation.tasks import anonymise_patients

    with audit_actor(system="test"):  # an old closed request for the retention task
        old = f.RequestFactory(status="cancelled")
        Request.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=800))
    anonymise_patients.enqueue()
    worker()

    rows = list(AuditEvent.objects.order_by("pk"))
    without = [e for e in rows if not names_its_actor(e)]
    old_rule = [e for e in rows if anonymous_under_the_old_rule(e)]
    kinds = sorted({e.actor_type for e in rows})
    with capsys.disabled():
        print(
            f"\naudit rows through the doors: {len(rows)}, without an actor: {len(without)}; "
            f"naming neither a user nor an API client (the issue's measure, now named "
            f"patient/system): {len(old_rule)}; kinds: {kinds}"
        )
    assert rows and not without, [(e.action, e.object_type, e.reason) for e in without]
    assert set(kinds) == {
        "user",
        "api_client",
        "patient_link",
        "public_form",
        "professional_link",
        "system",
    }
    follow = AuditEvent.objects.get(action="read", object_id=str(web_request.public_id))
    assert follow.actor_type == ActorType.PATIENT_LINK
    web = AuditEvent.objects.get(action="create", object_id=str(web_request.public_id))
    assert web.actor_type == ActorType.PUBLIC_FORM
    fhir_rows = AuditEvent.objects.filter(
        object_type__in=["regulation.request", "regulation.patient"]
    )
    assert not fhir_rows.filter(actor_type="", user=None, api_client="").exists()
