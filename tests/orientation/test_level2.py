from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from relais.accounts.models import Role
from relais.core.errors import ApplicationError
from relais.notifications.models import Notification
from relais.orientation.models import (
    Booking,
    BookingKind,
    Level2Call,
    Level2Offer,
    Level2Status,
    OfferStatus,
)
from relais.orientation.services import (
    booking_create,
    level2_accept,
    level2_check,
    level2_decline,
    level2_launch,
    surnumeraire_address,
    surnumeraire_refuse,
)
from relais.orientation.tokens import offer_token
from relais.regulation.models import RequestStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


def soon(hours=2):
    return timezone.now() + timedelta(hours=hours)


@pytest.fixture
def volunteers(cpts_a):
    near = [
        f.ProfessionalFactory(cpts_level2=True, practice_in=insee, email=f"v{i}@example.invalid")
        for i, insee in enumerate(["91228", "91174"])
    ]
    far = f.ProfessionalFactory(cpts_level2=True, practice_in="91377")  # Massy, ~16 km
    f.ProfessionalFactory(cpts_level2=False, practice_in="91228")  # not a volunteer
    return near, far


def test_it_offers_the_anonymised_request_to_nearby_volunteers(olivia, volunteers, snp_request):
    near, far = volunteers
    call = level2_launch(request=snp_request, user=olivia)
    assert {o.professional for o in call.offers.all()} == set(near)
    sms = Notification.objects.filter(kind="level2_offer", channel="sms")
    assert sms.count() == 2
    for message in sms:
        assert snp_request.patient.last_name not in message.body
        assert snp_request.patient.phone not in message.body
        assert "/n2/" in message.body
    checks = DBTaskResult.objects.filter(task_path__endswith="level2_check")
    assert sorted(t.run_after for t in checks) == [call.widen_at, call.deadline]
    with pytest.raises(ApplicationError, match="déjà en cours"):
        level2_launch(request=snp_request, user=olivia)


def test_it_gives_the_patient_to_the_first_volunteer_only(volunteers, snp_request):
    near, _ = volunteers
    call = level2_launch(request=snp_request)
    first, second = call.offers.order_by("pk")
    booking = level2_accept(offer=first, start=soon())
    assert booking.kind == BookingKind.NIVEAU2
    assert booking.slot.professional == first.professional
    with pytest.raises(ApplicationError, match="Déjà pris en charge"):
        level2_accept(offer=second, start=soon())
    call.refresh_from_db()
    second.refresh_from_db()
    assert call.status == Level2Status.ACCEPTED and call.booking == booking
    assert second.status == OfferStatus.TOO_LATE
    snp_request.refresh_from_db()
    assert snp_request.status == RequestStatus.BOOKED
    # The ad-hoc slot is offered on no channel.
    assert not (booking.slot.for_sas or booking.slot.for_cpts or booking.slot.for_public)


def test_it_widens_then_closes_an_unanswered_call(volunteers, snp_request, cpts_a):
    near, far = volunteers
    coordinator = f.member(
        f.UserFactory(username="coco", email="coco@example.invalid"), Role.COORDINATEUR, cpts=cpts_a
    )
    call = level2_launch(request=snp_request)
    level2_decline(offer=call.offers.first())
    assert level2_check(call_id=call.pk) == "waiting"
    assert level2_check(call_id=call.pk, now=call.widen_at + timedelta(seconds=1)) == "widened"
    assert far in [o.professional for o in call.offers.all()]
    assert Notification.objects.filter(kind="level2_alert", recipient=coordinator.email).exists()
    assert level2_check(call_id=call.pk, now=call.deadline + timedelta(seconds=1)) == "expired"
    snp_request.refresh_from_db()
    assert snp_request.status == RequestStatus.UNPLACED
    assert "Niveau 2 sans réponse" in snp_request.closing_reason
    assert level2_check(call_id=call.pk) == "closed"


def test_it_ends_the_call_when_the_operator_books_a_slot_meanwhile(volunteers, snp_request):
    call = level2_launch(request=snp_request)
    booking_create(request=snp_request, slot=f.SlotFactory())
    call.refresh_from_db()
    assert call.status == Level2Status.CANCELLED
    with pytest.raises(ApplicationError, match="Déjà pris en charge"):
        level2_accept(offer=call.offers.first(), start=soon())


def test_it_addresses_a_surnumeraire_patient_the_doctor_can_refuse(olivia, snp_request, cpts_a):
    doctor = f.ProfessionalFactory(
        accepts_surnumeraire=True, user=f.member(f.UserFactory(), Role.EFFECTEUR, cpts=cpts_a)
    )
    booking = surnumeraire_address(
        request=snp_request, professional=doctor, start=soon(), operator=olivia
    )
    assert booking.kind == BookingKind.SURNUMERAIRE and booking.refusable_until > timezone.now()
    surnumeraire_refuse(booking=booking, professional=doctor, reason="cabinet plein")
    snp_request.refresh_from_db()
    assert snp_request.status == RequestStatus.OPEN  # back to the worklist
    assert "refusé par" in snp_request.events.last().note


def test_it_refuses_bad_surnumeraire_requests(snp_request, cpts_a):
    unwilling = f.ProfessionalFactory(accepts_surnumeraire=False)
    with pytest.raises(ApplicationError, match="n'accepte pas"):
        surnumeraire_address(request=snp_request, professional=unwilling, start=soon())
    willing = f.ProfessionalFactory(accepts_surnumeraire=True)
    with pytest.raises(ApplicationError, match="déjà passée"):
        surnumeraire_address(request=snp_request, professional=willing, start=soon(-1))
    with pytest.raises(ApplicationError, match="trop lointaine"):
        surnumeraire_address(request=snp_request, professional=willing, start=soon(24 * 5))
    booking = surnumeraire_address(request=snp_request, professional=willing, start=soon())
    Booking.objects.filter(pk=booking.pk).update(refusable_until=soon(-1))
    booking.refresh_from_db()
    with pytest.raises(ApplicationError, match="délai pour refuser"):
        surnumeraire_refuse(booking=booking, professional=willing)


def test_it_lets_a_volunteer_answer_from_the_signed_link(client, volunteers, snp_request):
    call = level2_launch(request=snp_request)
    offer = call.offers.first()
    url = reverse("orientation:level2_offer", args=[offer_token(offer)])
    page = client.get(url).content.decode()
    assert snp_request.patient.last_name.upper() not in page.upper()
    assert "J'accepte" in page
    start = timezone.localtime(soon()).strftime("%Y-%m-%dT%H:%M")
    page = client.post(url, {"action": "accept", "start": start}).content.decode()
    assert "Le patient vous est adressé" in page
    other = call.offers.exclude(pk=offer.pk).first()
    page = client.get(reverse("orientation:level2_offer", args=[offer_token(other)]))
    assert "Déjà pris en charge" in page.content.decode()
    assert client.get(reverse("orientation:level2_offer", args=["forged"])).status_code == 404


def test_it_launches_niveau2_and_surnumeraire_from_the_operator_pages(client, olivia, volunteers):
    req = f.RequestFactory()
    client.force_login(olivia)
    response = client.post(reverse("orientation:level2", args=[req.public_id]))
    assert response.status_code == 302
    assert Level2Call.objects.get(request=req).status == Level2Status.OPEN
    page = client.get(reverse("regulation:request_detail", args=[req.public_id])).content.decode()
    assert "Niveau 2" in page and "2 volontaires sollicités" in page
    doctor = f.ProfessionalFactory(accepts_surnumeraire=True)
    other = f.RequestFactory()
    start = timezone.localtime(soon()).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("orientation:surnumeraire", args=[other.public_id]),
        {"professional": str(doctor.public_id), "start": start},
    )
    assert response.status_code == 302
    assert Booking.objects.get(request=other).kind == BookingKind.SURNUMERAIRE


@pytest.mark.parametrize("who", ["oscar", "coralie", "nobody"])
def test_it_refuses_niveau2_to_other_roles_and_territories(client, request, who, volunteers):
    req = f.RequestFactory()
    client.force_login(request.getfixturevalue(who))
    assert client.post(reverse("orientation:level2", args=[req.public_id])).status_code in (
        403,
        404,
    )
    assert not Level2Call.objects.exists()
    assert not Level2Offer.objects.exists()
