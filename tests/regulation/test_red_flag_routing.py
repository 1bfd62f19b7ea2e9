"""Issue 15, item 3: a red flag counts, whatever the door. One routing rule (priority of the
most severe criterion, shortest delay band, to the médecin régulateur, criterion ids kept),
and no consultation-type decision while the alert is active unless it is lifted with a
reason or confirmed (urgences / SMUR). The matcher is faked (test_red_flag_routing_fakes)
so that these tests check the routing, not the detection; the issue's product findings
are replayed with the real matcher at the end."""

import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from relais.accounts.models import Role
from relais.accounts.permissions import scope_for
from relais.audit.models import AuditEvent
from relais.core.errors import ApplicationError
from relais.regulation.models import Motif, Patient, RedFlagAnswer, Request, RequestStatus
from relais.regulation.services import (
    PatientInput,
    RedFlagActive,
    patient_create,
    request_create,
    request_decide,
    request_override_red_flag,
    request_transition,
)
from tests import factories as f
from tests.regulation.test_red_flag_routing_fakes import fake_matcher  # noqa: F401

pytestmark = pytest.mark.django_db

COMMUNE = "Évry-Courcouronnes (91000) — 91228"
CHEST = "douleur dans la poitrine qui serre depuis 20 min"


def intake(**overrides):
    return {
        "last_name": "Durand",
        "first_name": "Lucie",
        "birth_date": "1961-03-02",
        "phone": "0639981234",
        "commune": COMMUNE,
        "channel": "phone",
        "motif_text": CHEST,
        "urgency": "12-24h",
        "patient_choice": "new",
    } | overrides


def new_request(user, text, **kw):
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
        created_by=user,
        scope=scope_for(user) if user else None,
        **kw,
    )


def api_token(scopes: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_api_client", name=f"c-{scopes}", scopes=scopes, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


# --- the routing rule, from each door ----------------------------------------------------


@pytest.mark.usefixtures("fake_matcher")
def test_a_phone_intake_red_flag_goes_to_the_regulator_with_p0_and_the_shortest_band(
    client, olivia
):
    client.force_login(olivia)  # an operator: "to the régulateur" is not ticked
    response = client.post(reverse("regulation:request_new"), intake())
    assert response.status_code == 302, response.content.decode()[:2000]
    req = Request.objects.get()
    assert req.status == RequestStatus.TO_REGULATE
    assert (req.priority, req.urgency) == ("P0", "0-4h")
    assert req.red_flag and req.red_flag_criteria == ["acs"]
    assert "transmise au médecin régulateur (P0, sous 4 h)" in req.events.get().note


@pytest.mark.usefixtures("fake_matcher")
def test_an_api_request_with_a_red_flag_goes_to_the_regulator(client, cpts_a):
    token = api_token("requests:write,requests:read")
    payload = {
        "patient": {
            "first_name": "Lucie",
            "last_name": "Durand",
            "phone": "0639981234",
            "commune_insee": "91228",
        },
        "motif_text": "il n'arrive plus à respirer",
        "urgency": "24-48h",
    }
    created = client.post(
        "/api/v1/requests",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "to_regulate" and body["urgency"] == "0-4h"
    assert body["priority"] == "P0" and body["red_flag_criteria"] == ["dyspnea_severe"]
    assert body["red_flag_active"] is True


@pytest.mark.usefixtures("fake_matcher")
def test_an_api_request_stores_the_callers_answers_and_a_confirming_one_raises_the_flag(
    client, cpts_a
):
    token = api_token("requests:write")
    payload = {
        "patient": {"first_name": "A", "last_name": "B", "commune_insee": "91228"},
        "motif_text": "douleur poitrine",  # a candidate only: no flag from the text
        "red_flag_answers": [{"question_id": "acs.rest", "answer": "yes"}],
    }
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    created = client.post(
        "/api/v1/requests", json.dumps(payload), content_type="application/json", **headers
    )
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "to_regulate"
    assert created.json()["red_flag_criteria"] == ["acs"]
    assert RedFlagAnswer.objects.get(question_id="acs.rest").answer == "yes"
    bad = payload | {"red_flag_answers": [{"question_id": "nope.x", "answer": "yes"}]}
    refused = client.post(
        "/api/v1/requests", json.dumps(bad), content_type="application/json", **headers
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unknown_red_flag_question"


@pytest.mark.usefixtures("fake_matcher")
def test_a_flag_keeps_a_more_severe_typed_priority_and_replaces_a_milder_one(olivia):
    text = "il saigne du nez sous eliquis"  # epistaxis under anticoagulant: P1
    assert new_request(olivia, text, priority="P3").priority == "P1"
    assert new_request(olivia, text, priority="P0").priority == "P0"
    assert new_request(olivia, "otite", priority="P3").priority == "P3"  # no flag: as typed


def test_a_motif_that_calls_for_the_15_is_routed_too(cpts_a):
    req = request_create(
        patient=f.PatientFactory(), channel="web", motif=Motif.objects.get(code="R02")
    )
    assert req.status == RequestStatus.TO_REGULATE
    assert (req.priority, req.urgency) == ("P1", "0-4h")


@pytest.mark.usefixtures("fake_matcher")
def test_an_active_alert_never_reaches_the_osnp_worklist(olivia):
    req = new_request(olivia, CHEST)
    with pytest.raises(RedFlagActive) as refused:
        request_transition(request=req, to_status=RequestStatus.OPEN, actor=olivia)
    assert refused.value.http_status == 409 and refused.value.code == "red_flag_active"
    assert Request.objects.get(pk=req.pk).status == RequestStatus.TO_REGULATE


# --- the régulateur: lift or confirm, never de-escalate silently -----------------------


@pytest.mark.parametrize(
    "decision", ["consultation", "teleconsultation", "visite", "pdsa", "pharmacie", "conseil"]
)
@pytest.mark.usefixtures("fake_matcher")
def test_no_consultation_type_decision_while_the_alert_is_active(olivia, regis, decision):
    req = new_request(olivia, CHEST)
    with pytest.raises(RedFlagActive, match="levé l'alerte"):
        request_decide(request=req, user=regis, decision=decision, note="vu")
    req.refresh_from_db()
    assert req.status == RequestStatus.TO_REGULATE and req.decision == ""


@pytest.mark.parametrize("decision", ["urgences", "smur"])
@pytest.mark.usefixtures("fake_matcher")
def test_an_emergency_decision_confirms_the_alert_audited_and_in_the_timeline(
    olivia, regis, decision
):
    req = new_request(olivia, CHEST)
    request_decide(request=req, user=regis, decision=decision)
    req.refresh_from_db()
    assert req.status == RequestStatus.REDIRECTED and req.decided_by == regis
    notes = list(req.events.values_list("note", flat=True))
    assert any(n.startswith("Alerte de gravité confirmée par le régulateur") for n in notes)
    assert AuditEvent.objects.filter(
        user=regis, object_id=str(req.public_id), reason="confirmation d'alerte"
    ).exists()


@pytest.mark.usefixtures("fake_matcher")
def test_lifting_with_a_reason_allows_the_consultation_audited_and_in_the_timeline(olivia, regis):
    req = new_request(olivia, CHEST)
    request_decide(
        request=req,
        user=regis,
        decision="consultation",
        urgency="4-8h",
        lift_reason="douleur pariétale reproduite à la palpation",
    )
    req.refresh_from_db()
    assert req.status == RequestStatus.OPEN and req.red_flag_override_by == regis
    assert req.red_flag_override_reason == "douleur pariétale reproduite à la palpation"
    notes = list(req.events.values_list("note", flat=True))
    assert notes[1].startswith("Alerte de gravité levée par le régulateur")
    assert notes[2].startswith("Décision du régulateur : Consultation SNP")
    assert AuditEvent.objects.filter(user=regis, reason="levée d'alerte").exists()
    # Lifted separately first: any decision is then the régulateur's call.
    other = new_request(olivia, CHEST)
    request_override_red_flag(request=other, user=regis, reason="déjà vu par SOS Médecins")
    request_decide(request=other, user=regis, decision="conseil", note="reconsulter si besoin")
    assert Request.objects.get(pk=other.pk).status == RequestStatus.ADVICE


@pytest.mark.usefixtures("fake_matcher")
def test_the_decision_page_refuses_in_french_and_accepts_with_a_reason(client, olivia, regis):
    req = new_request(olivia, CHEST)
    client.force_login(regis)
    url = reverse("regulation:request_decide", args=[req.public_id])
    page = client.post(url, {"decision": "consultation"}, follow=True).content.decode()
    assert "Signe de gravité actif" in page and "levé l&#x27;alerte" in page
    assert Request.objects.get(pk=req.pk).status == RequestStatus.TO_REGULATE
    # The decision form shows the reason field while the alert is active.
    assert 'name="lift_reason"' in page
    client.post(url, {"decision": "consultation", "lift_reason": "examen rassurant au 15"})
    assert Request.objects.get(pk=req.pk).status == RequestStatus.OPEN


@pytest.mark.usefixtures("fake_matcher")
def test_the_api_answers_409_while_the_alert_is_active_and_200_once_lifted(client, olivia, regis):
    req = new_request(olivia, CHEST)
    url = f"/api/v1/requests/{req.public_id}/decision"
    client.force_login(olivia)  # an operator does not decide
    denied = client.post(url, json.dumps({"decision": "smur"}), content_type="application/json")
    assert denied.status_code == 403
    client.force_login(regis)
    refused = client.post(
        url, json.dumps({"decision": "consultation"}), content_type="application/json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "red_flag_active"
    bad = client.post(url, json.dumps({"decision": "magie"}), content_type="application/json")
    assert bad.status_code == 422
    done = client.post(
        url,
        json.dumps({"decision": "consultation", "lift_reason": "rassurant"}),
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "open" and done.json()["red_flag_active"] is False
    missing = client.post(
        "/api/v1/requests/00000000-0000-0000-0000-000000000000/decision",
        json.dumps({"decision": "smur"}),
        content_type="application/json",
    )
    assert missing.status_code == 404


@pytest.mark.usefixtures("fake_matcher")
def test_the_request_page_names_the_criteria_and_the_answers(client, olivia, regis):
    req = new_request(olivia, CHEST, red_flag_answers={"acs.rest": "yes", "acs.radiation": "no"})
    client.force_login(regis)
    page = client.get(reverse("regulation:request_detail", args=[req.public_id])).content
    page = page.decode()
    assert "Douleur thoracique évocatrice d&#x27;un syndrome coronarien aigu" in page
    assert "La douleur est-elle apparue au repos" in page and "<strong>Oui</strong>" in page
    assert "<strong>Non</strong>" in page and "Ne sait pas" in page  # acs.sweats not answered
    assert 'name="lift_reason"' in page  # the decision form asks why, before a lift


@pytest.mark.usefixtures("fake_matcher")
def test_only_a_regulator_lifts_or_decides(client, olivia):
    req = new_request(olivia, CHEST)
    with pytest.raises(ApplicationError):
        request_override_red_flag(request=req, user=olivia, reason=" ")
    client.force_login(olivia)
    decide = reverse("regulation:request_decide", args=[req.public_id])
    assert client.post(decide, {"decision": "consultation", "lift_reason": "x"}).status_code == 403


# --- the product findings, with the real matcher and referential ---------------


def reassuring(page: str) -> dict:
    """The answer to each question shown that does NOT confirm its criterion."""
    from relais.regulation.red_flags import alarm_answer, question_index

    index = question_index()
    return {
        f"rfq_{qid}": "oui" if alarm_answer(index[qid][1]) == "no" else "non"
        for qid in set(re.findall(r'name="rfq_([^"]+)"', page))
    }


def test_finding_chest_pain_20_min_ago_is_prioritised_and_routed(client, olivia):
    """Before: 12-24 h, no priority, among ordinary requests. The text alone is a candidate
    for the coronary criterion: its questions are asked, and the ARM's "oui" to "depuis plus
    de 20 minutes ?" makes it a P0 for the régulateur, within 4 h."""
    client.force_login(olivia)
    text = "douleur thoracique depuis 20 minutes"
    panel = client.post(reverse("regulation:red_flag_questions"), {"motif_text": text})
    assert 'name="rfq_acs.rest"' in panel.content.decode()
    client.post(
        reverse("regulation:request_new"), intake(motif_text=text, **{"rfq_acs.rest": "oui"})
    )
    req = Request.objects.get()
    assert req.red_flag and "acs" in req.red_flag_criteria
    assert req.status == RequestStatus.TO_REGULATE
    assert req.priority == "P0" and req.urgency == "0-4h"


def test_finding_a_pharmacists_chest_pain_and_dyspnoea_no_longer_reaches_the_osnp_list(
    client, cpts_a
):
    """Before: stored as an ordinary request, straight to the OSNP worklist. Now the
    coronary criterion's questions are asked first; the pharmacist's "oui" to "… dure-t-elle
    depuis plus de 20 minutes ?" (since this morning) says "Appelez le 15" and stores
    nothing. (All answers reassuring, a text red flag still goes to the régulateur:
    test_a_referral_with_a_text_red_flag_goes_to_the_regulator.)"""
    user = f.member(f.UserFactory(username="pharma"), Role.EFFECTEUR, cpts=cpts_a)
    f.ProfessionalFactory(profession="pharmacien", user=user, last_name="Officine")
    client.force_login(user)
    data = intake(
        channel="professional",
        motif_text="douleur thoracique et essoufflement depuis ce matin",
    )
    page = client.post(reverse("regulation:referral_new"), data).content.decode()
    assert not Request.objects.exists() and 'name="rfq_acs.rest"' in page
    replies = reassuring(page) | {"rfq_acs.rest": "oui"}
    page = client.post(reverse("regulation:referral_new"), data | replies).content.decode()
    assert "Appelez le 15 maintenant" in page
    assert not Request.objects.exists() and not Patient.objects.exists()


def test_finding_consultation_snp_is_refused_while_the_alert_is_active(olivia, regis):
    req = new_request(olivia, "douleur thoracique qui serre, il transpire")
    assert req.red_flag
    with pytest.raises(RedFlagActive):
        request_decide(request=req, user=regis, decision="consultation")


def test_finding_a_thunderclap_headache_typed_at_intake_raises_the_alert(client, olivia):
    client.force_login(olivia)
    text = "céphalée en coup de tonnerre il y a une heure"
    panel = client.post(reverse("regulation:red_flag_questions"), {"motif_text": text})
    assert "Le mal de tête a-t-il atteint son maximum" in panel.content.decode()
    client.post(reverse("regulation:request_new"), intake(motif_text=text))
    req = Request.objects.get()
    assert req.red_flag and "thunderclap_headache" in req.red_flag_criteria
    assert req.status == RequestStatus.TO_REGULATE and req.priority == "P0"


@pytest.mark.usefixtures("fake_matcher")
def test_merging_a_flagged_duplicate_keeps_its_alert_on_the_kept_request(olivia, regis):
    from relais.regulation.services import request_merge

    kept = new_request(olivia, "otite depuis hier")
    assert kept.status == RequestStatus.OPEN and not kept.red_flag
    web = request_create(
        patient=kept.patient, channel="web", motif=None, motif_text=CHEST, created_by=None
    )
    assert web.duplicate_of == kept and web.red_flag
    request_merge(duplicate=web, into=kept, user=olivia)
    kept.refresh_from_db()
    assert kept.red_flag and kept.red_flag_criteria == ["acs"]
    assert kept.status == RequestStatus.TO_REGULATE
    assert (kept.priority, kept.urgency) == ("P0", "0-4h")
    assert "Signe de gravité repris de" in kept.events.last().note
