"""Every slot a doctor publishes is bookable (issue 19, item 1): a rule's, the one-off
form's and an .ics import's go through the one booking service; only a partner mirror
takes the partner path."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from relais.accounts.services import api_client_create
from relais.agenda.models import Slot, SlotStatus
from relais.interop.models import PartnerSource
from relais.orientation.models import Booking, BookingChannel
from relais.orientation.services import booking_place
from tests import factories as f
from tests.conftest import login

pytestmark = pytest.mark.django_db


def url(name, pro):
    return reverse(f"agenda:{name}", kwargs={"pro": pro.public_id})


def _import_one(client, pro) -> Slot:
    start = timezone.localtime(timezone.now() + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    text = (
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:ext-1\n"
        f"DTSTART;TZID=Europe/Paris:{start:%Y%m%dT%H%M%S}\n"
        f"DTEND;TZID=Europe/Paris:{start + timedelta(minutes=20):%Y%m%dT%H%M%S}\n"
        "END:VEVENT\nEND:VCALENDAR\n"
    )
    login(client, pro.user)
    client.post(
        url("import", pro),
        {
            "practice": str(pro.practices.first().public_id),
            "modality": "cabinet",
            "channels": ["for_sas", "for_cpts"],
            "file": SimpleUploadedFile("a.ics", text.encode(), "text/calendar"),
        },
    )
    client.logout()
    return Slot.objects.get(professional=pro, source="ics")


def test_it_books_an_imported_slot_through_the_json_api(client, dr_alice):
    """Before: 400 "Ce créneau ne vient pas d'un logiciel partenaire actif."."""
    slot = _import_one(client, dr_alice)
    _, token = api_client_create(name="logiciel-x", scopes=["appointments:write", "requests:read"])
    req = f.RequestFactory()
    response = client.post(
        "/api/v1/bookings",
        {"request": str(req.public_id), "slot": str(slot.public_id)},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content
    slot.refresh_from_db()
    assert slot.status == SlotStatus.BOOKED


def test_it_books_an_imported_slot_from_the_operator_page(client, dr_alice, olivia):
    slot = _import_one(client, dr_alice)
    req = f.RequestFactory()
    login(client, olivia)
    response = client.post(
        reverse("orientation:book", kwargs={"public_id": req.public_id}),
        {"slot": str(slot.public_id)},
    )
    assert response.status_code == 302
    booking = Booking.objects.get(slot=slot)
    assert booking.channel == BookingChannel.UI


def test_it_adds_a_one_off_slot_from_the_phone_form_and_it_is_bookable(client, dr_alice, olivia):
    login(client, dr_alice.user)
    day = timezone.localdate() + timedelta(days=2)
    page = client.get(url("slot_new", dr_alice))
    assert page.status_code == 200 and "Ajouter un créneau ponctuel" in page.text
    post = {
        "day": day.isoformat(),
        "start_time": "14:00",
        "end_time": "14:30",
        "practice": str(dr_alice.practices.first().public_id),
        "modality": "cabinet",
        "channels": ["for_sas"],
    }
    response = client.post(url("slot_new", dr_alice), post, follow=True)
    assert f"Créneau ajouté le {day:%d/%m/%Y} de 14:00 à 14:30" in response.text
    slot = Slot.objects.get(professional=dr_alice)
    assert (slot.source, slot.for_sas, slot.for_cpts) == ("relais", True, False)
    # The same hour again: nothing added, and the page says why.
    again = client.post(url("slot_new", dr_alice), post)
    assert "chevauche un créneau déjà présent" in again.text
    assert Slot.objects.filter(professional=dr_alice).count() == 1
    booking = booking_place(request=f.RequestFactory(), slot=slot, operator=olivia)
    assert booking.slot == slot


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("day", "9999-12-31", "entre 2000 et 2100"),
        ("day", "1999-12-31", "entre 2000 et 2100"),
        ("day", "31/02/2026", "Saisissez une date valide"),
        ("end_time", "13:00", "la fin précède le début"),
    ],
)
def test_it_refuses_a_bad_one_off_slot_in_french(client, dr_alice, field, value, message):
    login(client, dr_alice.user)
    post = {
        "day": (timezone.localdate() + timedelta(days=2)).isoformat(),
        "start_time": "14:00",
        "end_time": "14:30",
        "practice": str(dr_alice.practices.first().public_id),
        "modality": "cabinet",
        "channels": ["for_sas"],
        field: value,
    }
    response = client.post(url("slot_new", dr_alice), post)
    assert response.status_code == 200
    assert message in response.text
    assert not Slot.objects.exists()


def test_it_still_confirms_a_partner_mirror_with_the_partner(dr_alice, olivia):
    PartnerSource.objects.create(name="agenda-x", base_url="http://127.0.0.1:9/", token="t")
    slot = f.SlotFactory(professional=dr_alice, source="agenda-x", external_id="e-1")
    assert slot.is_partner_mirror
    from relais.orientation.services import SlotUnavailable

    # The partner does not answer: no booking behind its back.
    with pytest.raises(SlotUnavailable, match="agenda-x"):
        booking_place(request=f.RequestFactory(), slot=slot, operator=olivia)
    assert not Booking.objects.exists()
