from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import Role
from relais.agenda.models import AvailabilityException, AvailabilityRule, Slot, SlotStatus
from relais.agenda.services import rule_create
from relais.directory.models import Delegation
from relais.orientation.models import BookingStatus
from relais.regulation.models import RequestStatus
from tests import factories as f
from tests.agenda.helpers import book, free_slots, paris, rule_input
from tests.conftest import login

pytestmark = pytest.mark.django_db
MONDAY = paris(2026, 11, 30, 8)
TWENTY = timedelta(minutes=20)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY, tick=False):
        yield


@pytest.fixture
def sandra(db):
    """A secretary (délégataire) to whom dr_alice delegated her agenda."""
    return f.member(f.UserFactory(username="sandra"), Role.DELEGATAIRE)


@pytest.fixture
def dr_bob(cpts_a):
    user = f.member(f.UserFactory(username="bob"), Role.EFFECTEUR, cpts=cpts_a)
    return f.ProfessionalFactory(last_name="Bob", user=user, cpts=cpts_a)


def url(name, pro, **kwargs):
    return reverse(f"agenda:{name}", kwargs={"pro": pro.public_id, **kwargs})


RULE_POST = {
    "weekdays": ["1", "3"],
    "start_time": "17:00",
    "end_time": "19:00",
    "kind": "slots",
    "slot_minutes": "20",
    "capacity": "1",
    "modality": "cabinet",
    "channels": ["for_sas"],
    "motifs": "",
    "skip_public_holidays": "on",
}


def test_it_sends_a_professional_to_their_own_agenda(client, dr_alice):
    response = login(client, dr_alice.user).get(reverse("agenda:index"))
    assert response.status_code == 302
    assert response["Location"] == url("agenda", dr_alice)
    page = client.get(url("agenda", dr_alice))
    assert page.status_code == 200 and "Mes prochains créneaux" in page.text


def test_it_creates_a_rule_from_the_form_and_shows_the_slots(client, dr_alice, clock):
    login(client, dr_alice.user)
    practice = str(dr_alice.practices.first().public_id)
    response = client.post(url("rule_new", dr_alice), {**RULE_POST, "practice": practice})
    assert response.status_code == 302
    assert free_slots(dr_alice).count() == 24
    page = client.get(url("agenda", dr_alice))
    assert "17:00–17:20" in page.text and "Libre" in page.text
    assert "mardi, jeudi 17:00–19:00" in page.text


def test_it_shows_a_french_error_and_saves_nothing(client, dr_alice, clock):
    login(client, dr_alice.user)
    practice = str(dr_alice.practices.first().public_id)
    bad = {**RULE_POST, "practice": practice, "start_time": "19:00", "end_time": "17:00"}
    response = client.post(url("rule_new", dr_alice), bad)
    assert response.status_code == 200
    assert "doit être postérieure à l&#x27;heure de début" in response.text
    assert not AvailabilityRule.objects.exists() and not Slot.objects.exists()
    unknown = {**RULE_POST, "practice": practice, "motifs": "ZZZ9"}
    assert "inconnu" in client.post(url("rule_new", dr_alice), unknown).text


def test_it_edits_and_deletes_a_rule(client, dr_alice, clock):
    rule = rule_create(professional=dr_alice, data=rule_input(dr_alice))
    login(client, dr_alice.user)
    practice = str(dr_alice.practices.first().public_id)
    edit = url("rule_edit", dr_alice, rule_id=rule.public_id)
    assert client.get(edit).status_code == 200
    client.post(edit, {**RULE_POST, "practice": practice, "channels": ["for_sas", "for_public"]})
    assert all(s.for_public for s in free_slots(dr_alice))
    client.post(url("rule_remove", dr_alice, rule_id=rule.public_id))
    assert not AvailabilityRule.objects.exists() and not free_slots(dr_alice).exists()


def test_it_records_a_vacation_and_warns_about_booked_patients(client, dr_alice, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    book(free_slots(dr_alice)[0])
    login(client, dr_alice.user)
    response = client.post(
        url("absence_new", dr_alice),
        {"kind": "vacation", "first_day": "2026-12-01", "last_day": "2026-12-06"},
        follow=True,
    )
    assert "1 rendez-vous déjà pris" in response.text
    assert free_slots(dr_alice).count() == 12
    absence = AvailabilityException.objects.get()
    client.post(url("absence_remove", dr_alice, absence_id=absence.public_id))
    assert free_slots(dr_alice).count() == 23
    wrong = client.post(
        url("absence_new", dr_alice),
        {"kind": "vacation", "first_day": "2026-12-06", "last_day": "2026-12-01"},
        follow=True,
    )
    assert "précède le premier" in wrong.text


def test_it_closes_a_free_slot_and_cancels_a_booked_one(client, dr_alice, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    free, taken = free_slots(dr_alice)[:2]
    booking = book(taken)
    login(client, dr_alice.user)
    client.post(url("slot_close", dr_alice, slot_id=free.public_id))
    response = client.post(url("slot_close", dr_alice, slot_id=taken.public_id), follow=True)
    assert "prévenu par SMS" in response.text
    free.refresh_from_db()
    taken.refresh_from_db()
    booking.refresh_from_db()
    assert free.status == taken.status == SlotStatus.BLOCKED
    assert booking.status == BookingStatus.CANCELLED
    assert booking.request.status == RequestStatus.OPEN


def test_it_records_an_outcome_from_the_agenda(client, dr_alice):
    slot = f.SlotFactory(professional=dr_alice, start=timezone.now() - timedelta(minutes=1))
    booking = book(slot)
    login(client, dr_alice.user)
    page = client.get(url("agenda", dr_alice))
    assert booking.request.patient.last_name.upper() in page.text
    outcome = reverse("orientation:record_outcome", kwargs={"public_id": booking.public_id})
    assert f'action="{outcome}"' in page.text
    client.post(outcome, {"outcome": "fulfilled"})
    booking.refresh_from_db()
    assert booking.status == BookingStatus.FULFILLED


def test_it_refuses_other_roles_and_other_professionals(client, dr_alice, dr_bob, olivia, nobody):
    rule = AvailabilityRule.objects.create(
        professional=dr_alice,
        practice=dr_alice.practices.first(),
        weekdays=[1],
        start_time=paris(2026, 1, 1, 17).time(),
        end_time=paris(2026, 1, 1, 19).time(),
        slot_minutes=20,
    )
    slot = f.SlotFactory(professional=dr_alice)
    pages = [
        url("agenda", dr_alice),
        url("rule_new", dr_alice),
        url("rule_edit", dr_alice, rule_id=rule.public_id),
        url("import", dr_alice),
        url("feed_settings", dr_alice),
        url("statement", dr_alice),
        url("participation", dr_alice),
        url("delegations", dr_alice),
    ]
    posts = [
        url("rule_remove", dr_alice, rule_id=rule.public_id),
        url("slot_close", dr_alice, slot_id=slot.public_id),
        url("absence_new", dr_alice),
    ]
    for user in (olivia, nobody):
        login(client, user)
        assert client.get(reverse("agenda:index")).status_code == 403
        assert all(client.get(p).status_code == 403 for p in pages)
        assert all(client.post(p).status_code == 403 for p in posts)
    login(client, dr_bob.user)
    assert all(client.get(p).status_code == 404 for p in pages)
    assert all(client.post(p).status_code == 404 for p in posts)
    # Bob cannot reach Alice's rule through his own agenda either.
    assert client.get(url("rule_edit", dr_bob, rule_id=rule.public_id)).status_code == 404
    assert client.post(url("slot_close", dr_bob, slot_id=slot.public_id)).status_code == 404
    assert AvailabilityRule.objects.filter(pk=rule.pk).exists()
    assert Slot.objects.get(pk=slot.pk).status == SlotStatus.FREE


def test_it_lets_a_delegataire_manage_only_the_agendas_delegated(
    client, dr_alice, dr_bob, sandra, clock
):
    login(client, sandra)
    assert client.get(url("agenda", dr_alice)).status_code == 404
    Delegation.objects.create(professional=dr_alice, delegate=sandra)
    response = client.get(reverse("agenda:index"))
    assert response.status_code == 302 and response["Location"] == url("agenda", dr_alice)
    practice = str(dr_alice.practices.first().public_id)
    client.post(url("rule_new", dr_alice), {**RULE_POST, "practice": practice})
    assert free_slots(dr_alice).count() == 24
    assert client.get(url("agenda", dr_bob)).status_code == 404
    # Delegating further is the professional's decision only.
    assert client.get(url("delegations", dr_alice)).status_code == 403
    # The outcome of a consultation is recorded by the professional.
    assert "Mes patients SNP" not in client.get(url("agenda", dr_alice)).text


def test_it_lets_a_professional_delegate_and_revoke(client, dr_alice, sandra, nobody):
    login(client, dr_alice.user)
    page = url("delegations", dr_alice)
    refused = client.post(page, {"username": "nobody"}, follow=True)
    assert "Aucun compte de secrétaire" in refused.text
    client.post(page, {"username": "sandra"})
    delegation = Delegation.objects.get()
    assert delegation.delegate == sandra
    assert "déjà" in client.post(page, {"username": "sandra"}, follow=True).text
    client.post(page, {"revoke": str(delegation.pk)})
    assert not Delegation.objects.exists()


def test_it_serves_a_private_revocable_ical_feed_without_patient_names(client, dr_alice, clock):
    rule_create(professional=dr_alice, data=rule_input(dr_alice))
    booking = book(free_slots(dr_alice)[0])
    login(client, dr_alice.user)
    response = client.post(url("feed_settings", dr_alice), {"action": "renew"})
    feed_url = response.context["url"]
    client.logout()
    feed = client.get(feed_url)
    assert feed.status_code == 200 and feed["Content-Type"].startswith("text/calendar")
    assert feed.text.count("BEGIN:VEVENT") == 24
    assert "SNP : patient adressé" in feed.text and "SNP : créneau libre" in feed.text
    patient = booking.request.patient
    assert patient.last_name not in feed.text and patient.phone not in feed.text
    assert client.get(feed_url.replace("/agenda/ical/", "/agenda/ical/x")).status_code == 404
    login(client, dr_alice.user)
    client.post(url("feed_settings", dr_alice), {"action": "revoke"})
    client.logout()
    assert client.get(feed_url).status_code == 404


def test_it_imports_one_off_slots_from_an_ics_file(client, dr_alice, clock):
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = (
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART;TZID=Europe/Paris:20261202T100000\n"
        "DTEND;TZID=Europe/Paris:20261202T103000\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:b\nDTSTART:20261101T100000Z\nDTEND:20261101T103000Z\nEND:VEVENT\n"
        "END:VCALENDAR\n"
    )
    login(client, dr_alice.user)
    form = {
        "practice": str(dr_alice.practices.first().public_id),
        "modality": "cabinet",
        "channels": ["for_sas"],
    }
    response = client.post(
        url("import", dr_alice),
        {**form, "file": SimpleUploadedFile("a.ics", text.encode(), "text/calendar")},
        follow=True,
    )
    assert "1 créneau(x) ajouté(s) ; 1 passé(s)" in response.text
    slot = Slot.objects.get()
    assert timezone.localtime(slot.start).strftime("%d/%m %H:%M") == "02/12 10:00"
    assert slot.source == "ics" and slot.external_id == "a" and slot.for_sas
    bad = client.post(
        url("import", dr_alice),
        {**form, "file": SimpleUploadedFile("b.ics", b"nope", "text/calendar")},
    )
    assert "pas un calendrier" in bad.text
    assert Slot.objects.count() == 1


def test_it_states_the_month_with_the_weekly_cap(client, dr_alice):
    # 22 consultations in the week of Monday 2 November 2026, 3 the week after, 1 no-show.
    for i in range(22):
        slot = f.SlotFactory(professional=dr_alice, start=paris(2026, 11, 2, 8) + i * TWENTY)
        book(slot, status=BookingStatus.FULFILLED)
    for i in range(3):
        slot = f.SlotFactory(professional=dr_alice, start=paris(2026, 11, 10, 17, 20 * i))
        book(slot, status=BookingStatus.FULFILLED)
    book(f.SlotFactory(professional=dr_alice, start=paris(2026, 11, 11, 9)), status="noshow")
    f.SlotFactory(professional=dr_alice, start=paris(2026, 12, 1, 9))  # another month
    login(client, dr_alice.user)
    page = client.get(url("statement", dr_alice), {"mois": "2026-11"})
    s = page.context["s"]
    assert (s.consultations, s.majorations, s.noshows) == (25, 23, 1)
    assert s.amount == Decimal("345")
    assert s.hours_published == round(26 * 20 / 60, 2)
    csv = client.get(url("statement", dr_alice), {"mois": "2026-11", "format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[1].startswith("2026-S45;02/11/2026;22;0;20;300,00")
    assert lines[-1].startswith("total;;25;1;23;345,00")
    bogus = client.get(url("statement", dr_alice), {"mois": "bogus"})
    assert bogus.status_code == 400 and "Mois invalide" in bogus.text


def test_it_saves_participation_settings(client, dr_alice):
    login(client, dr_alice.user)
    page = url("participation", dr_alice)
    bad = client.post(
        page,
        {"participation_mode": "cpts", "max_snp_per_day": "10", "max_snp_per_week": "5"},
    )
    assert "inférieur au maximum par jour" in bad.text
    client.post(
        page,
        {
            "sas_participant": "on",
            "participation_mode": "msp",
            "max_snp_per_day": "4",
            "max_snp_per_week": "12",
            "declares_two_hours": "on",
        },
    )
    dr_alice.refresh_from_db()
    assert dr_alice.participation_mode == "msp"
    assert (dr_alice.max_snp_per_day, dr_alice.max_snp_per_week) == (4, 12)
    assert dr_alice.declares_two_hours and dr_alice.accepts_surnumeraire


def test_it_runs_the_materialise_command_and_task(dr_alice, clock):
    from io import StringIO

    from django.core.management import call_command

    from relais.agenda.tasks import materialise_slots

    AvailabilityRule.objects.create(
        professional=dr_alice,
        practice=dr_alice.practices.first(),
        weekdays=[1],
        start_time=paris(2026, 1, 1, 17).time(),
        end_time=paris(2026, 1, 1, 18).time(),
        slot_minutes=30,
    )
    out = StringIO()
    call_command("materialise_slots", stdout=out)
    assert "4 créneau(x) créé(s)" in out.getvalue()
    assert materialise_slots.call()["created"] == 0
    assert date(2026, 12, 1) in {timezone.localdate(s.start) for s in free_slots(dr_alice)}


def test_it_uses_the_cpts_amounts_counts_off_slot_patients_and_prints_a_pdf(client, dr_alice):
    from relais.orientation.models import Booking, BookingKind

    cpts = dr_alice.cpts
    cpts.majoration_eur = Decimal("12.50")
    cpts.majoration_weekly_cap = 2
    cpts.save(update_fields=["majoration_eur", "majoration_weekly_cap"])
    for i in range(3):
        slot = f.SlotFactory(professional=dr_alice, start=paris(2026, 11, 2, 8) + i * TWENTY)
        book(slot, status=BookingStatus.FULFILLED)
    extra = f.SlotFactory(professional=dr_alice, start=paris(2026, 11, 3, 12))
    Booking.objects.filter(pk=book(extra).pk).update(kind=BookingKind.SURNUMERAIRE)
    login(client, dr_alice.user)
    s = client.get(url("statement", dr_alice), {"mois": "2026-11"}).context["s"]
    assert (s.majorations, s.amount, s.surnumeraire, s.level2) == (2, Decimal("25.00"), 1, 0)
    pdf = client.get(url("statement", dr_alice), {"mois": "2026-11", "format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
