"""Issue 18, item 5: a surnuméraire within the practice's and the SAS / PDSA hours, the
time proposed by default. Before, 03:00 at a practice was accepted (and texted to the
patient) and the time field started empty."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from relais.core.errors import ApplicationError
from relais.notifications.models import Notification
from relais.orientation.models import Booking
from relais.orientation.services import surnumeraire_address
from relais.orientation.surnumeraire import DEFAULT_PRACTICE_HOURS, first_allowed, is_allowed
from tests import factories as f

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
# Tuesday 2 June 2026, 02:10 in Paris (a night call).
NIGHT = datetime(2026, 6, 2, 2, 10, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def hours_checked(settings):
    settings.RELAIS_SURNUMERAIRE_HOURS_CHECK = True


@pytest.fixture
def willing(cpts_a):
    return f.ProfessionalFactory(accepts_surnumeraire=True, last_name="Volontaire")


def at(day, hour, minute=0):
    return datetime(2026, 6, day, hour, minute, tzinfo=PARIS)


def test_it_refuses_3am_at_a_practice_with_a_french_reason(willing, cpts_a):
    with time_machine.travel(NIGHT, tick=False):
        req = f.RequestFactory()
        with pytest.raises(ApplicationError) as refused:
            surnumeraire_address(request=req, professional=willing, start=at(2, 3))
    message = refused.value.message
    assert refused.value.code == "surnumeraire_out_of_hours"
    assert "02/06 à 03:00 est en dehors des horaires" in message
    assert "Proposez par exemple le 02/06 à 08:00" in message
    assert not Booking.objects.exists() and not Notification.objects.exists()


@pytest.mark.parametrize(
    ("start", "allowed"),
    [
        (at(2, 8), True),  # Tuesday, opening
        (at(2, 19, 45), True),
        (at(2, 20), False),  # Tuesday evening: PDSA, not for a non-PDSA doctor
        (at(6, 11, 45), True),  # Saturday morning
        (at(6, 14), False),  # Saturday afternoon
        (at(7, 10), False),  # Sunday
        (datetime(2026, 7, 14, 10, tzinfo=PARIS), False),  # 14 juillet
    ],
)
def test_it_follows_the_practice_and_sas_hours(start, allowed):
    assert is_allowed(start, hours=DEFAULT_PRACTICE_HOURS, pdsa=False) is allowed


@pytest.mark.parametrize(
    ("start", "allowed"),
    [
        (at(2, 21), True),  # evening PDSA
        (at(7, 10), True),  # Sunday PDSA
        (at(2, 3), False),  # deep night: never
    ],
)
def test_it_adds_the_pdsa_hours_for_a_doctor_who_takes_part(start, allowed):
    assert is_allowed(start, hours=DEFAULT_PRACTICE_HOURS, pdsa=True) is allowed


def test_it_proposes_the_first_possible_quarter_hour():
    assert first_allowed(at(2, 2, 10), hours=DEFAULT_PRACTICE_HOURS, pdsa=False) == at(2, 8)
    assert first_allowed(at(2, 10, 5), hours=DEFAULT_PRACTICE_HOURS, pdsa=False) == at(2, 10, 45)
    # Saturday 11:50: the next is Monday 08:00.
    assert first_allowed(at(6, 11, 50), hours=DEFAULT_PRACTICE_HOURS, pdsa=False) == at(8, 8)


def test_it_accepts_a_time_within_the_hours(willing, cpts_a):
    with time_machine.travel(NIGHT, tick=False):
        req = f.RequestFactory()
        booking = surnumeraire_address(request=req, professional=willing, start=at(2, 9))
    assert booking.slot.start == at(2, 9)


def test_the_operator_page_proposes_a_time_and_shows_the_refusal(client, olivia, willing, cpts_a):
    client.force_login(olivia)
    with time_machine.travel(NIGHT, tick=False):
        req = f.RequestFactory()
        page = client.get(reverse("orientation:ranked_slots", args=[req.public_id]))
        html = page.content.decode()
        assert 'value="2026-06-02T08:00"' in html  # no longer empty
        refused = client.post(
            reverse("orientation:surnumeraire", args=[req.public_id]),
            {"professional": str(willing.public_id), "start": "2026-06-02T03:00"},
            HTTP_HX_REQUEST="true",
        )
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "en dehors des horaires possibles pour un surnuméraire" in text
    assert not Booking.objects.exists()
