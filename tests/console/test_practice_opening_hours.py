"""Issue 18, item 5: each practice's own opening hours (Practice.opening_hours, the CPTS
service-hours shape) bound the surnuméraire time and its proposal; empty = the default
hours; edited in the back-office, validated in French and audited."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from relais.accounts.models import Role
from relais.audit.models import AuditEvent
from relais.core.errors import ApplicationError
from relais.orientation.models import Booking
from relais.orientation.services import surnumeraire_address
from relais.orientation.surnumeraire import proposed_start, refusal
from tests import factories as f

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
NIGHT = datetime(2026, 6, 2, 2, 10, tzinfo=PARIS)  # Tuesday 2 June 2026, 02:10
AFTERNOONS = {str(d): [["14:00", "18:00"]] for d in range(1, 6)}


@pytest.fixture(autouse=True)
def hours_checked(settings):
    settings.RELAIS_SURNUMERAIRE_HOURS_CHECK = True


@pytest.fixture
def willing(cpts_a):
    return f.ProfessionalFactory(accepts_surnumeraire=True, last_name="Apresmidi")


def at(day, hour, minute=0):
    return datetime(2026, 6, day, hour, minute, tzinfo=PARIS)


def test_a_practice_open_14_to_18_refuses_9am_and_proposes_2pm(willing):
    practice = willing.practices.get()
    practice.opening_hours = AFTERNOONS
    practice.save()
    with time_machine.travel(NIGHT, tick=False):
        assert proposed_start(willing, practice) == at(2, 14)
        req = f.RequestFactory()
        with pytest.raises(ApplicationError) as refused:
            surnumeraire_address(request=req, professional=willing, start=at(2, 9))
        booking = surnumeraire_address(request=req, professional=willing, start=at(2, 14, 30))
    message = refused.value.message
    assert refused.value.code == "surnumeraire_out_of_hours"
    assert "02/06 à 09:00 est en dehors des horaires" in message
    assert "lundi 14:00-18:00" in message and "vendredi 14:00-18:00" in message
    assert "Proposez par exemple le 02/06 à 14:00" in message
    assert Booking.objects.get() == booking and booking.slot.start == at(2, 14, 30)


def test_empty_hours_fall_back_to_the_default(willing):
    practice = willing.practices.get()
    assert practice.opening_hours == {}
    with time_machine.travel(NIGHT, tick=False):
        assert proposed_start(willing, practice) == at(2, 8)
        assert refusal(willing, practice, at(2, 9)) is None
        assert "samedi 8 h - 12 h" in refusal(willing, practice, at(2, 20))
    # Only closing days, no weekday: still the default.
    practice.opening_hours = {"closed": ["2026-06-02"]}
    with time_machine.travel(NIGHT, tick=False):
        assert proposed_start(willing, practice) == at(2, 8)


@pytest.fixture
def coord_a(cpts_a):
    return f.member(f.UserFactory(username="coordinatrice_h"), Role.COORDINATEUR, cpts=cpts_a)


def practice_data(practice, **over):
    return {
        "name": practice.name, "address": practice.address, "postal_code": "91000",
        "city": practice.commune.name, "phone": "", "professionals": [],
        **{f"hours_{d}": "" for d in range(1, 8)}, **over,
    }  # fmt: skip


def test_the_back_office_saves_audits_and_shows_the_hours(client, coord_a, willing):
    practice = willing.practices.get()
    client.force_login(coord_a)
    edit = reverse("directory:practice_edit", args=[practice.public_id])
    before = AuditEvent.objects.count()
    data = practice_data(practice, hours_1="14h00-18:00", hours_3="08:00-12:00, 14:00-18:00")
    response = client.post(edit, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    practice.refresh_from_db()
    assert practice.opening_hours == {
        "1": [["14:00", "18:00"]], "3": [["08:00", "12:00"], ["14:00", "18:00"]],
    }  # fmt: skip
    event = AuditEvent.objects.order_by("pk").last()
    assert AuditEvent.objects.count() > before and event.reason == "lieu d'exercice modifié"
    page = client.get(edit).content.decode()
    assert 'value="08:00-12:00, 14:00-18:00"' in page
    # All days emptied: back to the default.
    assert client.post(edit, practice_data(practice)).status_code == 302
    practice.refresh_from_db()
    assert practice.opening_hours == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hours_1", "le matin", "Lundi : « le matin » n&#x27;est pas une plage"),
        ("hours_2", "25:00-26:00", "Mardi : heure invalide"),
        ("hours_6", "18:00-14:00", "Samedi : la fin doit suivre le début"),
        ("hours_4", "08:00-12:00, 11:00-13:00", "Jeudi : plages qui se chevauchent"),
    ],
)
def test_the_back_office_refuses_malformed_hours_in_french(
    client, coord_a, willing, field, value, message
):
    practice = willing.practices.get()
    client.force_login(coord_a)
    edit = reverse("directory:practice_edit", args=[practice.public_id])
    before = AuditEvent.objects.count()
    response = client.post(edit, practice_data(practice, **{field: value}))
    assert response.status_code == 200 and message in response.content.decode()
    practice.refresh_from_db()
    assert practice.opening_hours == {} and AuditEvent.objects.count() == before


def test_the_operator_page_proposes_the_practice_opening(client, olivia, willing):
    practice = willing.practices.get()
    practice.opening_hours = AFTERNOONS
    practice.save()
    client.force_login(olivia)
    with time_machine.travel(NIGHT, tick=False):
        req = f.RequestFactory()
        html = client.get(reverse("orientation:ranked_slots", args=[req.public_id])).content
    assert 'value="2026-06-02T14:00"' in html.decode()
