import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from relais.accounts.permissions import require, scope_for
from relais.agenda.models import Modality
from relais.agenda.selectors import slot_get
from relais.audit.services import audit_record_reads
from relais.core.errors import ApplicationError
from relais.orientation.models import BookingChannel, BookingStatus
from relais.orientation.selectors import (
    booking_get_for_user,
    bookings_for_professional,
    slots_ranked_for,
    surnumeraire_doctors_for,
)
from relais.orientation.services import (
    SlotUnavailable,
    booking_cancel,
    booking_create,
    booking_record_outcome,
    slot_hold,
    slot_release,
)
from relais.regulation.selectors import request_get_for_user

SLOT_NOT_FOUND = "Créneau introuvable : choisissez-en un dans la liste."
SLOT_TAKEN = "Créneau plus disponible : il vient d'être pris. Voici les suivants."


def _slots_context(
    req, *, user, widen=False, modality=None, error=None, alternatives=None, info=None
):
    ranked = (
        alternatives
        if alternatives is not None
        else slots_ranked_for(request=req, widen=widen, modality=modality or None, user=user)
    )
    return {
        "req": req,
        "ranked": ranked,
        "widen": widen,
        "modality": modality or "",
        "modalities": Modality.choices,
        "error": error,
        "info": info,
        "surnumeraire": surnumeraire_doctors_for(request=req) if not ranked else [],
    }


def _slot_list(request, req, **context):
    return render(
        request,
        "orientation/partials/slot_list.html",
        _slots_context(req, user=request.user, **context),
    )


def _posted_slot(request):
    value = request.POST.get("slot", "")
    return slot_get(public_id=value) if _is_uuid(value) else None


@require("request.orient")
def ranked_slots(request, public_id):
    """htmx fragment: the ranked free slots for a request."""
    req = request_get_for_user(scope=scope_for(request.user), public_id=public_id)
    modality = request.GET.get("modality") or None
    if modality not in (None, *Modality.values):
        modality = None
    return _slot_list(request, req, widen=request.GET.get("widen") == "1", modality=modality)


@require_POST
@require("booking.create")
def hold(request, public_id):
    """Keep a slot for a few minutes while the patient agrees."""
    req = request_get_for_user(scope=scope_for(request.user), public_id=public_id)
    slot = _posted_slot(request)
    if slot is None:
        return _slot_list(request, req, error=SLOT_NOT_FOUND)
    try:
        slot_hold(slot=slot, user=request.user, request=req)
    except SlotUnavailable as exc:
        return _slot_list(request, req, error=SLOT_TAKEN, alternatives=exc.alternatives)
    until = timezone.localtime(slot.held_until)
    return _slot_list(request, req, info=f"Créneau retenu pour vous jusqu'à {until:%H:%M}.")


@require_POST
@require("booking.create")
def release(request, public_id):
    req = request_get_for_user(scope=scope_for(request.user), public_id=public_id)
    slot = _posted_slot(request)
    if slot is not None:
        slot_release(slot=slot, user=request.user)
    return _slot_list(request, req, info="Créneau libéré.")


@require_POST
@require("booking.create")
def book(request, public_id):
    req = request_get_for_user(scope=scope_for(request.user), public_id=public_id)
    slot = _posted_slot(request)
    if slot is None:
        return _slot_list(request, req, error=SLOT_NOT_FOUND)
    try:
        booking = booking_create(
            request=req, slot=slot, operator=request.user, channel=BookingChannel.UI
        )
    except SlotUnavailable as exc:
        return _slot_list(request, req, error=SLOT_TAKEN, alternatives=exc.alternatives)
    except ApplicationError as exc:
        return _slot_list(request, req, error=exc.message)
    local = timezone.localtime(booking.slot.start)
    messages.success(
        request,
        f"Rendez-vous réservé avec {slot.professional.display_name} le {local:%d/%m à %H:%M}.",
    )
    url = reverse("regulation:request_detail", kwargs={"public_id": req.public_id})
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@require_POST
@require("booking.cancel")
def cancel(request, public_id):
    booking = booking_get_for_user(scope=scope_for(request.user), public_id=public_id)
    try:
        booking_cancel(
            booking=booking, actor=request.user, reason=request.POST.get("reason", "")[:200]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Rendez-vous annulé : la demande est de nouveau à orienter.")
    return redirect("regulation:request_detail", public_id=booking.request.public_id)


@require("patients.own")
def my_patients(request):
    scope = scope_for(request.user)
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    bookings = list(bookings_for_professional(professional_id=scope.professional_id, since=today))
    audit_record_reads(
        user=request.user, objects=[b.request.patient for b in bookings], reason="mes patients"
    )
    return render(
        request,
        "orientation/my_patients.html",
        {"bookings": bookings, "now": timezone.now(), "statuses": BookingStatus},
    )


@require_POST
@require("patients.own")
def record_outcome(request, public_id):
    booking = booking_get_for_user(scope=scope_for(request.user), public_id=public_id)
    try:
        booking_record_outcome(
            booking=booking, outcome=request.POST.get("outcome", ""), actor=request.user
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Issue enregistrée.")
    return redirect("orientation:my_patients")
