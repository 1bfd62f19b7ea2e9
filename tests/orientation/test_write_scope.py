"""Every write scoped like every read (issue 14, item 2): the attacks replayed through
every door (operator pages, JSON API, FHIR, the services themselves).

Each attack counts what got written; the expected count after the fix is 0 (or the hold
limit). A refusal is a clear error (French message, 404/409 JSON, OperationOutcome),
never a 500, and leaves the database unchanged."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import ApiClient, Role
from relais.accounts.permissions import scope_for, scope_for_api_client
from relais.accounts.services import api_client_create
from relais.agenda.models import Slot, SlotStatus
from relais.core.errors import ApplicationError
from relais.directory.models import Delegation
from relais.notifications.models import Notification
from relais.orientation.models import Booking, BookingStatus, Level2Call
from relais.orientation.services import (
    booking_cancel,
    booking_create,
    booking_record_outcome,
    level2_launch,
    slot_hold,
    surnumeraire_address,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def token_for(name, sas_obj, scopes=("appointments:write", "requests:read", "slots:read")):
    client, token = api_client_create(name=name, scopes=list(scopes))
    client.sas_scope.add(sas_obj)
    return token


@pytest.fixture
def pro43(sas43):
    return f.ProfessionalFactory(last_name="Velay", practice_in="43157", accepts_surnumeraire=True)


@pytest.fixture
def slot43(pro43):
    return f.SlotFactory(professional=pro43)


def post_json(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def nothing_written(slot, request=None):
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE and slot.held_by is None
    assert not Booking.objects.filter(slot=slot).exists()
    if request is not None:
        request.refresh_from_db()
        assert request.status == "open"


# --- territory ------------------------------------------------------------------------------


def test_it_refuses_a_token_of_sas_91_booking_a_haute_loire_slot(client, cpts_a, sas43, slot43):
    token = token_for("lrm-91", cpts_a.sas)
    req = f.RequestFactory()
    response = post_json(
        client,
        "/api/v1/bookings",
        {"request": str(req.public_id), "slot": str(slot43.public_id)},
        **bearer(token),
    )
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "slot_out_of_scope"
    nothing_written(slot43, req)


def test_it_refuses_an_operator_of_sas_91_booking_a_haute_loire_slot_in_the_ui(
    client, olivia, slot43
):
    req = f.RequestFactory()
    client.force_login(olivia)
    url = reverse("orientation:book", args=[req.public_id])
    response = client.post(url, {"slot": str(slot43.public_id)})
    assert response.status_code == 200
    assert "Créneau introuvable" in response.content.decode()
    nothing_written(slot43, req)


def test_it_lets_an_operator_of_both_sas_book_in_either(olivia, sas43, slot43):
    f.member(olivia, Role.OPERATEUR, sas_obj=sas43)
    olivia._relais_scope = None
    booking = booking_create(request=f.RequestFactory(), slot=slot43, operator=olivia)
    assert booking.slot == slot43


def test_it_refuses_the_operator_of_sas_91_holding_haute_loire_slots(client, olivia, pro43):
    """The attack: 40 holds on another SAS's slots (UI and API). Before the fix: 40."""
    start = timezone.now() + timedelta(hours=2)
    slots = [
        f.SlotFactory(professional=pro43, start=start + timedelta(minutes=20 * i))
        for i in range(40)
    ]
    req = f.RequestFactory()
    client.force_login(olivia)
    for i, slot in enumerate(slots):
        if i % 2:
            response = post_json(
                client,
                "/api/v1/holds",
                {"request": str(req.public_id), "slot": str(slot.public_id)},
            )
            assert response.status_code == 404, response.content
        else:
            url = reverse("orientation:hold", args=[req.public_id])
            response = client.post(url, {"slot": str(slot.public_id)})
            assert response.status_code == 200
            assert "Créneau introuvable" in response.content.decode()
    assert Slot.objects.filter(status=SlotStatus.HELD).count() == 0


def test_it_refuses_a_surnumeraire_with_a_doctor_of_another_sas(client, cpts_a, pro43):
    token = token_for("lrm-91", cpts_a.sas)
    req = f.RequestFactory()
    response = post_json(
        client,
        f"/api/v1/requests/{req.public_id}/surnumeraire",
        {
            "professional": str(pro43.public_id),
            "start": (timezone.now() + timedelta(hours=2)).isoformat(),
        },
        **bearer(token),
    )
    assert response.status_code == 404, response.content
    assert not Booking.objects.exists() and not Slot.objects.filter(professional=pro43).exists()


def test_it_refuses_a_surnumeraire_across_territories_in_the_ui(client, olivia, pro43):
    req = f.RequestFactory()
    client.force_login(olivia)
    start = timezone.localtime(timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("orientation:surnumeraire", args=[req.public_id]),
        {"professional": str(pro43.public_id), "start": start},
    )
    assert response.status_code == 200
    assert "introuvable" in response.content.decode()
    assert not Booking.objects.exists()


def test_it_refuses_services_called_with_another_territorys_scope(oscar, cpts_a, dr_alice):
    """The services check by themselves, whatever the door."""
    req = f.RequestFactory()
    slot = f.SlotFactory(professional=dr_alice)
    scope = scope_for(oscar)
    with pytest.raises(ApplicationError) as exc:
        booking_create(request=req, slot=slot, operator=oscar, scope=scope)
    assert exc.value.http_status == 404
    with pytest.raises(ApplicationError):
        slot_hold(slot=slot, user=oscar, request=req)
    with pytest.raises(ApplicationError):
        surnumeraire_address(
            request=req,
            professional=f.ProfessionalFactory(accepts_surnumeraire=True),
            start=timezone.now() + timedelta(hours=2),
            operator=oscar,
        )
    with pytest.raises(ApplicationError):
        level2_launch(request=req, user=oscar)
    nothing_written(slot, req)
    assert not Level2Call.objects.exists()


def test_it_cancels_only_within_the_callers_territory(oscar, olivia, dr_alice):
    booking = booking_create(request=f.RequestFactory(), slot=f.SlotFactory(professional=dr_alice))
    with pytest.raises(ApplicationError) as exc:
        booking_cancel(booking=booking, actor=oscar)
    assert exc.value.http_status == 404
    client43 = ApiClient.objects.get(
        pk=api_client_create(name="t43", scopes=["appointments:write"])[0].pk
    )
    client43.sas_scope.add(f.sas("43"))
    with pytest.raises(ApplicationError):
        booking_cancel(booking=booking, scope=scope_for_api_client(client43))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.BOOKED
    booking_cancel(booking=booking, actor=olivia)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED


def test_it_lets_the_professional_and_their_delegate_cancel(dr_alice, sas91):
    delia = f.member(f.UserFactory(username="delia"), Role.DELEGATAIRE, sas_obj=sas91)
    Delegation.objects.create(professional=dr_alice, delegate=delia)
    first = booking_create(request=f.RequestFactory(), slot=f.SlotFactory(professional=dr_alice))
    booking_cancel(booking=first, actor=dr_alice.user)
    second = booking_create(request=f.RequestFactory(), slot=f.SlotFactory(professional=dr_alice))
    booking_cancel(booking=second, actor=delia)
    assert Booking.objects.filter(status=BookingStatus.CANCELLED).count() == 2


def test_it_records_an_outcome_only_by_the_professional_or_delegate(
    olivia, dr_alice, sas91, cpts_a
):
    other = f.member(f.UserFactory(username="bruno"), Role.EFFECTEUR, cpts=cpts_a)
    f.ProfessionalFactory(user=other, cpts=cpts_a)
    slot = f.SlotFactory(professional=dr_alice)
    booking = booking_create(request=f.RequestFactory(), slot=slot)
    Slot.objects.filter(pk=slot.pk).update(start=timezone.now() - timedelta(hours=1))
    booking.slot.refresh_from_db()
    for intruder in (olivia, other):
        with pytest.raises(ApplicationError) as exc:
            booking_record_outcome(booking=booking, outcome="fulfilled", actor=intruder)
        assert exc.value.http_status == 403
    booking.refresh_from_db()
    assert booking.status == BookingStatus.BOOKED
    delia = f.member(f.UserFactory(username="delia"), Role.DELEGATAIRE, sas_obj=sas91)
    Delegation.objects.create(professional=dr_alice, delegate=delia)
    booking_record_outcome(booking=booking, outcome="fulfilled", actor=delia)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.FULFILLED


# --- channel --------------------------------------------------------------------------------


@pytest.fixture
def public_only(dr_alice):
    return f.SlotFactory(professional=dr_alice, for_sas=False, for_cpts=False, for_public=True)


def test_it_refuses_a_public_only_slot_through_the_api(client, cpts_a, public_only):
    token = token_for("lrm-91", cpts_a.sas)
    req = f.RequestFactory()
    response = post_json(
        client,
        "/api/v1/bookings",
        {"request": str(req.public_id), "slot": str(public_only.public_id)},
        **bearer(token),
    )
    assert response.status_code == 404, response.content
    nothing_written(public_only, req)


def test_it_refuses_a_public_only_slot_in_the_ui(client, olivia, public_only):
    req = f.RequestFactory()
    client.force_login(olivia)
    for name in ("orientation:book", "orientation:hold"):
        response = client.post(
            reverse(name, args=[req.public_id]), {"slot": str(public_only.public_id)}
        )
        assert response.status_code == 200
        assert "Créneau introuvable" in response.content.decode()
    nothing_written(public_only, req)


def test_it_refuses_a_public_only_slot_through_fhir(client, cpts_a, public_only):
    from tests.interop.test_fhir_appointments import appointment

    f.commune("91174")
    token = token_for("sas-national", cpts_a.sas)
    response = client.post(
        "/fhir/Appointment",
        json.dumps(appointment(public_only)),
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    nothing_written(public_only)


def test_it_refuses_a_cpts_only_slot_to_a_sas_operator(olivia, dr_alice):
    slot = f.SlotFactory(professional=dr_alice, for_sas=False, for_cpts=True)
    req = f.RequestFactory()
    with pytest.raises(ApplicationError) as exc:
        booking_create(request=req, slot=slot, operator=olivia)
    assert exc.value.code == "slot_out_of_scope"
    nothing_written(slot, req)


def test_it_lets_a_cpts_operator_book_a_cpts_slot_of_their_cpts(cpts_a, dr_alice):
    cpts_operator = f.member(f.UserFactory(username="cyril"), Role.OPERATEUR, cpts=cpts_a)
    slot = f.SlotFactory(professional=dr_alice, for_sas=False, for_cpts=True)
    assert booking_create(request=f.RequestFactory(), slot=slot, operator=cpts_operator)
    sas_only = f.SlotFactory(
        professional=dr_alice, for_sas=True, for_cpts=False, start=slot.start + timedelta(hours=1)
    )
    with pytest.raises(ApplicationError):
        booking_create(request=f.RequestFactory(), slot=sas_only, operator=cpts_operator)


def test_it_lets_an_api_partner_book_a_partners_only_slot(client, cpts_a, dr_alice):
    token = token_for("lrm-91", cpts_a.sas)
    slot = f.SlotFactory(professional=dr_alice, for_sas=False, for_cpts=False, for_partners=True)
    req = f.RequestFactory()
    response = post_json(
        client,
        "/api/v1/bookings",
        {"request": str(req.public_id), "slot": str(slot.public_id)},
        **bearer(token),
    )
    assert response.status_code == 201, response.content


def test_it_refuses_a_channel_closed_between_the_check_and_the_update(olivia, dr_alice):
    """The channel is in the conditional UPDATE too: a slot closed to the SAS by its
    professional while the booking runs is not taken (no check-then-update race)."""
    from relais.orientation import services

    slot = f.SlotFactory(professional=dr_alice)
    real = services.slot_take_channels

    def closing(**kwargs):
        channels = real(**kwargs)
        Slot.objects.filter(pk=slot.pk).update(for_sas=False, for_cpts=False)
        return channels

    services.slot_take_channels = closing
    try:
        with pytest.raises(ApplicationError):
            booking_create(request=f.RequestFactory(), slot=slot, operator=olivia)
    finally:
        services.slot_take_channels = real
    assert not Booking.objects.exists()


# --- hold limit -----------------------------------------------------------------------------


def test_it_limits_the_live_holds_of_one_operator(client, olivia, dr_alice, settings):
    """The attack: 40 holds in a row by one operator. Before the fix: 40; after: the limit."""
    settings.RELAIS_MAX_HOLDS_PER_OPERATOR = 3
    start = timezone.now() + timedelta(hours=2)
    slots = [
        f.SlotFactory(professional=dr_alice, start=start + timedelta(minutes=20 * i))
        for i in range(40)
    ]
    req = f.RequestFactory()
    client.force_login(olivia)
    refused = 0
    for slot in slots:
        response = post_json(
            client, "/api/v1/holds", {"request": str(req.public_id), "slot": str(slot.public_id)}
        )
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "hold_limit_reached"
            refused += 1
        else:
            assert response.status_code == 201, response.content
    assert Slot.objects.filter(status=SlotStatus.HELD, held_by=olivia).count() == 3
    assert refused == 37
    # Renewing a hold one already has is not a new hold; releasing one frees a place.
    slot_hold(slot=slots[0], user=olivia, request=req)
    url = reverse("orientation:hold", args=[req.public_id])
    response = client.post(url, {"slot": str(slots[10].public_id)})
    assert "au plus 3 créneaux" in response.content.decode()
    client.post(
        reverse("orientation:release", args=[req.public_id]), {"slot": str(slots[0].public_id)}
    )
    slot_hold(slot=slots[10], user=olivia, request=req)
    assert Slot.objects.filter(status=SlotStatus.HELD, held_by=olivia).count() == 3


def test_it_does_not_count_lapsed_holds(olivia, dr_alice, settings):
    import time_machine

    settings.RELAIS_MAX_HOLDS_PER_OPERATOR = 1
    start = timezone.now() + timedelta(hours=2)
    first = f.SlotFactory(professional=dr_alice, start=start)
    second = f.SlotFactory(professional=dr_alice, start=start + timedelta(minutes=20))
    slot_hold(slot=first, user=olivia, minutes=3)
    with pytest.raises(ApplicationError):
        slot_hold(slot=second, user=olivia)
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        slot_hold(slot=second, user=olivia)


# --- never a 500 ----------------------------------------------------------------------------


def test_it_never_answers_500_to_a_refused_write(client, olivia, oscar, slot43, public_only):
    req = f.RequestFactory()
    client.force_login(olivia)
    for slot in (slot43, public_only):
        for name in ("orientation:book", "orientation:hold", "orientation:release"):
            response = client.post(
                reverse(name, args=[req.public_id]), {"slot": str(slot.public_id)}
            )
            assert response.status_code < 500
    assert not Notification.objects.exists()


def test_it_raises_no_django_permission_denied_from_services(oscar, dr_alice):
    """Services raise ApplicationError (mapped everywhere), not Django's PermissionDenied."""
    slot = f.SlotFactory(professional=dr_alice)
    try:
        booking_create(request=f.RequestFactory(), slot=slot, operator=oscar)
    except DjangoPermissionDenied:  # pragma: no cover - the failure this test guards
        pytest.fail("Django PermissionDenied raised by a service")
    except ApplicationError:
        pass


def test_it_lists_only_slots_the_caller_may_book(olivia, dr_alice, slot43):
    """A radius across a border: the search of an operator of SAS 91 leaves out the slots
    of SAS 43 that the booking would refuse (without a scope, the search shows them)."""
    from relais.orientation.selectors import slots_ranked_for

    req = f.RequestFactory()
    mine = f.SlotFactory(professional=dr_alice, start=slot43.start + timedelta(minutes=20))
    everything = slots_ranked_for(request=req, radius_km=600, user=olivia)
    assert {r.slot for r in everything} == {slot43, mine}
    scoped = slots_ranked_for(request=req, radius_km=600, user=olivia, scope=scope_for(olivia))
    assert [r.slot for r in scoped] == [mine]
