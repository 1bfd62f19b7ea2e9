import pytest
from django.urls import reverse

from relais.notifications.models import Notification
from relais.orientation.models import Booking
from relais.orientation.services import booking_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_it_shows_ranked_slots_to_the_operator(client, olivia, snp_request):
    slot = f.SlotFactory()
    client.force_login(olivia)
    response = client.get(reverse("orientation:ranked_slots", args=[snp_request.public_id]))
    assert response.status_code == 200
    assert str(slot.public_id) in response.content.decode()
    assert slot.professional.display_name in response.content.decode()


def test_it_books_in_one_click(client, olivia, snp_request):
    slot = f.SlotFactory()
    client.force_login(olivia)
    response = client.post(
        reverse("orientation:book", args=[snp_request.public_id]),
        {"slot": str(slot.public_id)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse(
        "regulation:request_detail", args=[snp_request.public_id]
    )
    assert Booking.objects.get().slot == slot
    page = client.get(response["HX-Redirect"]).content.decode()
    assert "Rendez-vous réservé avec" in page
    assert Notification.objects.filter(kind="booking_patient").exists()


def test_it_tells_the_operator_when_the_slot_was_just_taken(client, olivia, snp_request):
    slot = f.SlotFactory()
    booking_create(request=f.RequestFactory(), slot=slot)
    client.force_login(olivia)
    response = client.post(
        reverse("orientation:book", args=[snp_request.public_id]), {"slot": str(slot.public_id)}
    )
    assert response.status_code == 200
    assert "Créneau plus disponible" in response.content.decode()


def test_it_rejects_a_garbage_slot_id(client, olivia, snp_request):
    client.force_login(olivia)
    response = client.post(
        reverse("orientation:book", args=[snp_request.public_id]), {"slot": "../../etc"}
    )
    assert response.status_code == 200
    assert "Créneau introuvable" in response.content.decode()


@pytest.mark.parametrize("who", ["oscar", "coralie", "nobody"])
def test_it_refuses_booking_to_other_roles_and_territories(client, request, who, snp_request):
    slot = f.SlotFactory()
    client.force_login(request.getfixturevalue(who))
    response = client.post(
        reverse("orientation:book", args=[snp_request.public_id]), {"slot": str(slot.public_id)}
    )
    assert response.status_code in (403, 404)
    assert not Booking.objects.exists()


def test_it_shows_the_professional_their_booked_patients(client, dr_alice, snp_request):
    slot = f.SlotFactory(professional=dr_alice)
    booking_create(request=snp_request, slot=slot)
    other = f.SlotFactory()
    booking_create(request=f.RequestFactory(), slot=other)
    client.force_login(dr_alice.user)
    page = client.get(reverse("orientation:my_patients")).content.decode()
    assert snp_request.patient.last_name.upper() in page
    assert str(other.public_id) not in page
    from relais.audit.models import AuditEvent

    assert AuditEvent.objects.filter(
        user=dr_alice.user, action="read", object_id=str(snp_request.patient.public_id)
    ).exists()


def test_it_lets_the_professional_record_an_outcome_but_not_for_someone_else(
    client, dr_alice, snp_request
):
    from datetime import timedelta

    from django.utils import timezone

    mine = f.SlotFactory(professional=dr_alice)
    booking = booking_create(request=snp_request, slot=mine)
    mine.__class__.objects.filter(pk=mine.pk).update(start=timezone.now() - timedelta(minutes=30))
    client.force_login(dr_alice.user)
    url = reverse("orientation:record_outcome", args=[booking.public_id])
    assert client.post(url, {"outcome": "fulfilled"}).status_code == 302
    booking.refresh_from_db()
    assert booking.status == "fulfilled"
    theirs = booking_create(request=f.RequestFactory(), slot=f.SlotFactory())
    url = reverse("orientation:record_outcome", args=[theirs.public_id])
    assert client.post(url, {"outcome": "fulfilled"}).status_code == 404


def test_it_holds_then_confirms_from_the_slot_list(client, olivia, regis, snp_request):
    slot = f.SlotFactory()
    client.force_login(olivia)
    page = client.post(
        reverse("orientation:hold", args=[snp_request.public_id]), {"slot": str(slot.public_id)}
    ).content.decode()
    assert "Créneau retenu pour vous" in page and "minutes" in page
    assert "Confirmer" in page and "Libérer" in page
    client.force_login(regis)
    page = client.get(reverse("orientation:ranked_slots", args=[snp_request.public_id]))
    assert str(slot.public_id) not in page.content.decode()
    client.force_login(olivia)
    response = client.post(
        reverse("orientation:book", args=[snp_request.public_id]), {"slot": str(slot.public_id)}
    )
    assert response.status_code == 302
    assert Booking.objects.get().slot == slot


def test_it_releases_a_held_slot(client, olivia, snp_request):
    slot = f.SlotFactory()
    client.force_login(olivia)
    client.post(
        reverse("orientation:hold", args=[snp_request.public_id]), {"slot": str(slot.public_id)}
    )
    page = client.post(
        reverse("orientation:release", args=[snp_request.public_id]), {"slot": str(slot.public_id)}
    ).content.decode()
    assert "Créneau libéré" in page
    slot.refresh_from_db()
    assert slot.status == "free"


def test_it_lists_surnumeraire_doctors_when_nothing_fits(client, olivia, snp_request):
    willing = f.ProfessionalFactory(accepts_surnumeraire=True, last_name="Volontaire")
    f.ProfessionalFactory(accepts_surnumeraire=False, last_name="Complet")
    client.force_login(olivia)
    page = client.get(reverse("orientation:ranked_slots", args=[snp_request.public_id]))
    text = page.content.decode()
    assert "Médecins acceptant un patient en surnuméraire" in text
    assert willing.display_name in text and "Complet" not in text


@pytest.mark.parametrize("who", ["oscar", "coralie", "nobody"])
def test_it_refuses_holds_to_other_roles_and_territories(client, request, who, snp_request):
    slot = f.SlotFactory()
    client.force_login(request.getfixturevalue(who))
    response = client.post(
        reverse("orientation:hold", args=[snp_request.public_id]), {"slot": str(slot.public_id)}
    )
    assert response.status_code in (403, 404)
    slot.refresh_from_db()
    assert slot.status == "free"
