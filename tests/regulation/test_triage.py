import pytest
from django.urls import reverse

from relais.accounts.permissions import scope_for
from relais.core.errors import ApplicationError
from relais.orientation.services import booking_create
from relais.regulation.models import Motif, Request, RequestStatus
from relais.regulation.services import (
    PatientInput,
    patient_create,
    request_create,
    request_decide,
    request_merge,
    request_override_red_flag,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def new_request(olivia, text="fièvre depuis hier", **kw):
    patient = patient_create(
        data=PatientInput(
            first_name="Lucie",
            last_name="Durand",
            birth_date=None,
            phone="0639981234",
            commune=f.commune("91228"),
        )
    )
    return request_create(
        patient=patient,
        channel="phone",
        motif=None,
        motif_text=text,
        created_by=olivia,
        scope=scope_for(olivia),
        **kw,
    )


def test_it_flags_a_red_flag_and_blocks_gp_booking_until_a_regulator_lifts_it(
    olivia, regis, cpts_a
):
    req = new_request(olivia, "douleur dans la poitrine qui serre depuis 1h")
    assert req.red_flag and "thoracique" in req.red_flag_reasons.lower()
    slot = f.SlotFactory()
    with pytest.raises(ApplicationError, match="Signe de gravité") as refused:
        booking_create(request=req, slot=slot, operator=olivia)
    assert refused.value.code == "red_flag"
    slot.refresh_from_db()
    assert slot.status == "free"  # nothing taken
    with pytest.raises(ApplicationError, match="pourquoi"):
        request_override_red_flag(request=req, user=regis, reason=" ")
    request_override_red_flag(request=req, user=regis, reason="douleur pariétale connue")
    req.refresh_from_db()
    assert req.red_flag_override_by == regis
    # Lifted, it is still the régulateur's (issue 15): their decision sends it to the OSNP.
    assert req.status == RequestStatus.TO_REGULATE
    request_decide(request=req, user=regis, decision="consultation")
    req.refresh_from_db()
    assert booking_create(request=req, slot=slot, operator=olivia)
    assert "Alerte de gravité levée" in " ".join(req.events.values_list("note", flat=True))


def test_it_flags_a_motif_that_itself_calls_for_the_15(olivia, cpts_a):
    patient = f.PatientFactory()
    req = request_create(patient=patient, channel="phone", motif=Motif.objects.get(code="R02"))
    assert req.red_flag and req.red_flag_reasons == "Dyspnée / respiration difficile"
    assert not new_request(olivia, "mal à la gorge, pas de fièvre").red_flag


def test_it_sends_an_arm_request_to_the_regulator_who_decides(olivia, regis, cpts_a):
    req = new_request(olivia, "otite bébé", priority="P3", track="mg", to_regulate=True)
    assert req.status == RequestStatus.TO_REGULATE and req.priority == "P3"
    request_decide(request=req, user=regis, decision="consultation", urgency="4-8h")
    req.refresh_from_db()
    assert req.status == RequestStatus.OPEN and req.urgency == "4-8h"
    assert req.decided_by == regis and req.decided_at is not None


@pytest.mark.parametrize(
    "decision, status",
    [
        ("conseil", RequestStatus.ADVICE),
        ("urgences", RequestStatus.REDIRECTED),
        ("smur", RequestStatus.REDIRECTED),
        ("pdsa", RequestStatus.ORIENTED),
        ("pharmacie", RequestStatus.ORIENTED),
        ("visite", RequestStatus.OPEN),
        ("teleconsultation", RequestStatus.OPEN),
    ],
)
def test_it_applies_each_decision(olivia, regis, cpts_a, decision, status):
    req = new_request(olivia, to_regulate=True)
    request_decide(request=req, user=regis, decision=decision, note="boire beaucoup")
    req.refresh_from_db()
    assert req.status == status and req.decision == decision


def test_it_refuses_bad_decisions(olivia, regis, cpts_a):
    req = new_request(olivia, to_regulate=True)
    with pytest.raises(ApplicationError, match="Résumez le conseil"):
        request_decide(request=req, user=regis, decision="conseil")
    with pytest.raises(ApplicationError, match="Décision inconnue"):
        request_decide(request=req, user=regis, decision="magie")
    with pytest.raises(ApplicationError, match="Priorité inconnue"):
        new_request(olivia, priority="P9")


def test_it_flags_and_merges_a_duplicate_from_another_channel(olivia, cpts_a):
    first = new_request(olivia, "fièvre")
    patient = first.patient
    second = request_create(patient=patient, channel="web", motif=None, motif_text="toux aussi")
    assert second.duplicate_of == first
    request_merge(duplicate=second, into=first, user=olivia)
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.status == RequestStatus.CANCELLED
    assert "toux aussi" in first.motif_text
    with pytest.raises(ApplicationError):
        request_merge(duplicate=first, into=f.RequestFactory(), user=olivia)


def test_it_prefills_the_intake_from_the_lrm_handover(client, olivia, cpts_a):
    doctor = f.ProfessionalFactory(last_name="Traitant")
    client.force_login(olivia)
    url = reverse("regulation:request_new")
    page = client.get(
        url, {"origine": "LRM", "rpps_mt": doctor.rpps, "specialite": "SM54", "commune": "91228"}
    ).content.decode()
    assert f"{doctor.display_name} — {doctor.rpps}" in page
    assert "Évry-Courcouronnes (91000) — 91228" in page
    assert "[Transmis par LRM]" in page
    # Garbage parameters are ignored, never an error.
    assert client.get(url, {"rpps_mt": "x'; drop", "commune": "<script>"}).status_code == 200


def test_it_lets_only_the_regulator_decide_and_lift_alerts(client, olivia, regis, cpts_a):
    req = new_request(olivia, "n'arrive plus à respirer", to_regulate=True)
    client.force_login(olivia)
    decide = reverse("regulation:request_decide", args=[req.public_id])
    lift = reverse("regulation:request_override", args=[req.public_id])
    assert client.post(decide, {"decision": "urgences"}).status_code == 403
    assert client.post(lift, {"reason": "x"}).status_code == 403
    client.force_login(regis)
    page = client.get(reverse("regulation:request_detail", args=[req.public_id])).content
    assert "Lever l&#x27;alerte" in page.decode() or "Lever l'alerte" in page.decode()
    client.post(decide, {"decision": "urgences", "note": "SAMU"})
    req.refresh_from_db()
    assert req.status == RequestStatus.REDIRECTED


def test_it_merges_from_the_request_page(client, olivia, cpts_a):
    first = new_request(olivia, "fièvre")
    second = request_create(patient=first.patient, channel="web", motif=None, motif_text="toux")
    client.force_login(olivia)
    page = client.get(reverse("regulation:request_detail", args=[second.public_id])).content
    assert "Doublon possible" in page.decode()
    client.post(reverse("regulation:request_merge", args=[second.public_id]))
    assert Request.objects.get(pk=second.pk).status == RequestStatus.CANCELLED


def test_it_finds_known_patients_of_the_territory_only(client, olivia, oscar, cpts_a):
    from relais.audit.models import AuditEvent

    req = new_request(olivia, "toux")
    client.force_login(olivia)
    url = reverse("regulation:patient_lookup")
    page = client.post(url, {"last_name": "dur"}).content.decode()
    assert "Même patient : DURAND Lucie" in page and "Évry-Courcouronnes" in page
    assert f'value="{req.patient.public_id}"' in page  # a choice to confirm, not a fill-in
    assert AuditEvent.objects.filter(
        user=olivia, action="read", object_id=str(req.patient.public_id)
    ).exists()
    client.force_login(oscar)  # another SAS
    assert "DURAND" not in client.post(url, {"last_name": "dur"}).content.decode()
