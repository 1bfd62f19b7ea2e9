import pytest
from django.urls import reverse

from relais.accounts.permissions import scope_for
from relais.audit.models import AuditEvent
from relais.core.errors import ApplicationError, PermissionDenied
from relais.regulation.models import Motif, Request, RequestStatus
from relais.regulation.services import (
    TRANSITIONS,
    PatientInput,
    motifs_load,
    patient_create,
    request_create,
    request_transition,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def patient_input(**kw):
    data = {
        "first_name": "Lucie",
        "last_name": "Durand",
        "birth_date": None,
        "phone": "+33 6 39 98 12 34",
        "commune": f.commune("91228"),
    }
    data.update(kw)
    return PatientInput(**data)


def test_it_loads_the_cisp2_motifs_from_the_migration():
    assert Motif.objects.count() >= 44
    assert Motif.objects.get(code="A11").refer_to_15 is True
    assert Motif.objects.get(code="R05").refer_to_15 is False
    assert motifs_load() == Motif.objects.count()  # idempotent


def test_it_never_merges_patients_on_identity_alone(cpts_a):
    """Matching only proposes (tests/regulation/test_patient_identity.py): creating a
    patient never takes over, nor changes, a record with the same names."""
    first = patient_create(data=patient_input())
    again = patient_create(data=patient_input(last_name="DURAND", phone="0639980000"))
    assert first.pk != again.pk
    first.refresh_from_db()
    assert first.phone == "0639981234"  # +33 normalised, untouched by the second one
    assert first.sas == again.sas == cpts_a.sas


def test_it_refuses_a_patient_without_a_name(cpts_a):
    with pytest.raises(ApplicationError, match="obligatoires"):
        patient_create(data=patient_input(last_name="  "))


def test_it_creates_a_request_in_the_patients_territory(olivia, cpts_a):
    patient = patient_create(data=patient_input())
    req = request_create(
        patient=patient,
        channel="phone",
        motif=Motif.objects.get(code="A03"),
        created_by=olivia,
        scope=scope_for(olivia),
    )
    assert req.sas.departement.code == "91"
    assert req.cpts == cpts_a
    assert req.reference.startswith("91-")
    assert req.events.get().to_status == RequestStatus.OPEN
    assert AuditEvent.objects.filter(action="create", object_id=str(req.public_id)).exists()


def test_it_refuses_a_request_outside_the_users_territory(oscar, cpts_a):
    patient = patient_create(data=patient_input())
    with pytest.raises(PermissionDenied, match="hors de votre territoire"):
        request_create(
            patient=patient, channel="phone", motif=None, motif_text="toux", scope=scope_for(oscar)
        )
    assert not Request.objects.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channel": "fax"}, "Canal inconnu"),
        ({"urgency": "3-5h"}, "Délai inconnu"),
        ({"motif_text": "   "}, "Indiquez un motif"),
    ],
)
def test_it_refuses_bad_request_input(cpts_a, kwargs, message):
    patient = patient_create(data=patient_input())
    args = {"patient": patient, "channel": "phone", "motif": None, "motif_text": "toux"} | kwargs
    with pytest.raises(ApplicationError, match=message):
        request_create(**args)


ALL = list(RequestStatus.values)


@pytest.mark.parametrize("source", ALL)
@pytest.mark.parametrize("target", ALL)
def test_it_allows_exactly_the_transitions_of_the_state_machine(cpts_a, source, target):
    req = f.RequestFactory(status=source)
    allowed = target in TRANSITIONS.get(source, set())
    if allowed:
        request_transition(request=req, to_status=target, note="test")
        req.refresh_from_db()
        assert req.status == target
        assert req.events.last().from_status == source
    else:
        with pytest.raises(ApplicationError, match="Transition impossible"):
            request_transition(request=req, to_status=target)
        req.refresh_from_db()
        assert req.status == source


def test_it_refuses_a_stale_transition(cpts_a):
    req = f.RequestFactory()
    stale = Request.objects.get(pk=req.pk)
    request_transition(request=req, to_status=RequestStatus.ADVICE, note="conseil")
    with pytest.raises(ApplicationError, match="modifiée entre-temps"):
        request_transition(request=stale, to_status=RequestStatus.UNPLACED)


def test_it_creates_a_request_from_the_intake_form(client, olivia, cpts_a):
    client.force_login(olivia)
    gp = f.ProfessionalFactory(last_name="Traitant")
    response = client.post(
        reverse("regulation:request_new"),
        {
            "last_name": "Durand",
            "first_name": "Lucie",
            "birth_date": "1985-04-12",
            "phone": "06 39 98 12 34",
            "commune": "Évry-Courcouronnes (91000) — 91228",
            "medecin_traitant": f"Dr Camille Traitant — {gp.rpps}",
            "channel": "phone",
            "motif": "A03",
            "urgency": "12-24h",
        },
    )
    req = Request.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("regulation:request_detail", args=[req.public_id])
    assert req.patient.medecin_traitant == gp
    assert req.motif.code == "A03"


def test_it_explains_every_bad_field_of_the_intake_form(client, olivia, cpts_a):
    client.force_login(olivia)
    response = client.post(
        reverse("regulation:request_new"),
        {
            "last_name": "Durand",
            "first_name": "Lucie",
            "birth_date": "2999-01-01",
            "phone": "123",
            "commune": "Atlantis",
            "medecin_traitant": "99999999999",
            "channel": "phone",
            "urgency": "12-24h",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    for message in [
        "ne peut pas être dans le futur",
        "Numéro de téléphone invalide",
        "Commune inconnue",
        "Médecin traitant introuvable",
        "Choisissez un motif",
    ]:
        assert message in page
    assert not Request.objects.exists()


def test_it_scopes_the_worklist_and_the_request_page(client, olivia, oscar, cpts_a):
    req = f.RequestFactory()
    client.force_login(olivia)
    assert req.reference in client.get(reverse("regulation:worklist")).content.decode()
    detail = client.get(reverse("regulation:request_detail", args=[req.public_id]))
    assert detail.status_code == 200
    assert AuditEvent.objects.filter(
        user=olivia, action="read", object_id=str(req.public_id)
    ).exists()
    client.force_login(oscar)
    assert req.reference not in client.get(reverse("regulation:worklist")).content.decode()
    assert client.get(reverse("regulation:request_detail", args=[req.public_id])).status_code == 404


def test_it_closes_a_request_without_booking(client, regis, cpts_a):
    req = f.RequestFactory()
    client.force_login(regis)
    client.post(
        reverse("regulation:request_close", args=[req.public_id]),
        {"outcome": "redirected", "reason": "douleur thoracique"},
    )
    req.refresh_from_db()
    assert req.status == RequestStatus.REDIRECTED
    assert req.closing_reason == "douleur thoracique"
    assert req.closed_at is not None


def test_it_computes_the_patients_age_in_whole_years(cpts_a):
    import time_machine

    with time_machine.travel("2026-11-25 10:00 +01:00"):
        born = f.PatientFactory(birth_date="1985-11-26")
        born.refresh_from_db()
        assert born.age == 40
        born.birth_date = born.birth_date.replace(day=25)
        assert born.age == 41
        assert f.PatientFactory(birth_date=None).age is None


def test_it_audits_the_patients_shown_in_the_worklist(client, olivia, cpts_a):
    req = f.RequestFactory()
    client.force_login(olivia)
    client.get(reverse("regulation:worklist"))
    assert AuditEvent.objects.filter(
        user=olivia, action="read", object_id=str(req.patient.public_id), reason="liste de travail"
    ).exists()
