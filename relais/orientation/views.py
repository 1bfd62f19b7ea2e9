import uuid
from datetime import timedelta

from django.conf import settings
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
from relais.core.db_routing import lag_tolerant
from relais.core.errors import ApplicationError
from relais.orientation.forms import Level2AnswerForm, SurnumeraireForm
from relais.orientation.models import BookingChannel, BookingStatus
from relais.orientation.selectors import (
    booking_get_for_user,
    bookings_correctable,
    bookings_for_professional,
    bookings_to_record,
    offer_get_by_token,
    professional_get_surnumeraire,
    slots_ranked_for,
    surnumeraire_doctors_for,
)
from relais.orientation.services import (
    OUTCOME_CORRECTION_DAYS,
    SlotUnavailable,
    booking_cancel,
    booking_place,
    booking_record_outcome,
    level2_accept,
    level2_decline,
    level2_launch,
    outcome_correctable_until,
    slot_hold,
    slot_release,
    surnumeraire_address,
    surnumeraire_refuse,
)
from relais.regulation.selectors import request_get_for_user

SLOT_NOT_FOUND = "Créneau introuvable : choisissez-en un dans la liste."
SLOT_TAKEN = "Créneau plus disponible : il vient d'être pris. Voici les suivants."


def _unavailable(exc: SlotUnavailable) -> str:
    """The taken-slot message, or the exception's own (a professional at their cap)."""
    return SLOT_TAKEN if exc.code == SlotUnavailable.code else exc.message


def _slots_context(
    req, *, user, widen=False, modality=None, error=None, alternatives=None, info=None
):
    ranked = (
        alternatives
        if alternatives is not None
        else lag_tolerant()(slots_ranked_for)(
            request=req,
            widen=widen,
            modality=modality or None,
            user=user,
            scope=scope_for(user),
        )
    )
    return {
        "req": req,
        "ranked": ranked,
        "widen": widen,
        "modality": modality or "",
        "modalities": Modality.choices,
        "error": error,
        "info": info,
        "surnumeraire": _with_proposed_start(surnumeraire_doctors_for(request=req))
        if not ranked
        else [],
        "hold_minutes": settings.RELAIS_HOLD_MINUTES,
    }


def _with_proposed_start(doctors):
    """Each surnuméraire doctor with the first time they may be given (proposed in the
    time field: within the practice's and the SAS / PDSA hours)."""
    from relais.orientation.surnumeraire import proposed_start

    for d in doctors:
        d["proposed_start"] = proposed_start(d["professional"], d["practice"])
    return doctors


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
    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    slot = _posted_slot(request)
    if slot is None:
        return _slot_list(request, req, error=SLOT_NOT_FOUND)
    try:
        slot_hold(slot=slot, user=request.user, request=req, scope=scope)
    except SlotUnavailable as exc:
        return _slot_list(request, req, error=_unavailable(exc), alternatives=exc.alternatives)
    except ApplicationError as exc:  # out of territory or channel, hold limit
        return _slot_list(request, req, error=exc.message)
    minutes = settings.RELAIS_HOLD_MINUTES
    # The remaining time counts down on the row (console.js), and ends: a fixed "until"
    # would stay on screen after the hold lapsed.
    return _slot_list(
        request,
        req,
        info=f"Créneau retenu pour vous {minutes} minutes : confirmez-le avec le patient.",
    )


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
    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    slot = _posted_slot(request)
    if slot is None:
        return _slot_list(request, req, error=SLOT_NOT_FOUND)
    try:
        booking = booking_place(
            request=req, slot=slot, operator=request.user, channel=BookingChannel.UI, scope=scope
        )
    except SlotUnavailable as exc:
        return _slot_list(request, req, error=_unavailable(exc), alternatives=exc.alternatives)
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
    scope = scope_for(request.user)
    booking = booking_get_for_user(scope=scope, public_id=public_id)
    try:
        booking_cancel(
            booking=booking,
            actor=request.user,
            reason=request.POST.get("reason", "")[:200],
            scope=scope,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Rendez-vous annulé : la demande est de nouveau à orienter.")
    return redirect("regulation:request_detail", public_id=booking.request.public_id)


@require("patients.own")
def my_patients(request):
    scope = scope_for(request.user)
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    # Past appointments without an outcome, every day (not only today's), first.
    to_record = list(bookings_to_record(professional_id=scope.professional_id, now=now))
    waiting = {b.pk for b in to_record}
    bookings = [
        b
        for b in bookings_for_professional(professional_id=scope.professional_id, since=today)
        if b.pk not in waiting and b.status == BookingStatus.BOOKED
    ]
    recorded = list(
        bookings_correctable(
            professional_id=scope.professional_id, days=OUTCOME_CORRECTION_DAYS, now=now
        )
    )
    for b in recorded:
        b.correctable_until = outcome_correctable_until(b)
    audit_record_reads(
        user=request.user,
        objects=[b.request.patient for b in [*to_record, *bookings, *recorded]],
        reason="mes patients",
    )
    return render(
        request,
        "orientation/my_patients.html",
        {
            "to_record": to_record,
            "bookings": bookings,
            "recorded": recorded,
            "correction_days": OUTCOME_CORRECTION_DAYS,
            "now": now,
            "statuses": BookingStatus,
        },
    )


@require_POST
@require("patients.own")
def record_outcome(request, public_id):
    scope = scope_for(request.user)
    booking = booking_get_for_user(scope=scope, public_id=public_id)
    try:
        booking_record_outcome(
            booking=booking,
            outcome=request.POST.get("outcome", ""),
            actor=request.user,
            scope=scope,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        until = outcome_correctable_until(booking)
        messages.success(
            request,
            f"Issue enregistrée : patient {booking.get_status_display().lower()}. Vous pouvez la "
            f"corriger jusqu'au {timezone.localtime(until):%d/%m à %H:%M}.",
        )
    return redirect("orientation:my_patients")


@require_POST
@require("request.orient")
def surnumeraire(request, public_id):
    """Address the patient to a doctor beyond their slots, at a chosen time."""
    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    form = SurnumeraireForm(request.POST)
    if not form.is_valid():
        return _slot_list(request, req, error="Choisissez un médecin et une heure valides.")
    pro = professional_get_surnumeraire(public_id=form.cleaned_data["professional"])
    if pro is None:
        return _slot_list(request, req, error="Ce médecin n'accepte pas de surnuméraire.")
    try:
        surnumeraire_address(
            request=req,
            professional=pro,
            start=form.cleaned_data["start"],
            operator=request.user,
            scope=scope,
        )
    except ApplicationError as exc:
        return _slot_list(request, req, error=exc.message)
    messages.success(request, f"Patient adressé en surnuméraire à {pro.display_name}.")
    return _redirect_to_request(request, req)


@require_POST
@require("request.orient")
def level2(request, public_id):
    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    try:
        call = level2_launch(request=req, user=request.user, scope=scope)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Niveau 2 lancé : {call.offers.count()} volontaire(s) sollicité(s)."
        )
    return _redirect_to_request(request, req)


def _redirect_to_request(request, req):
    url = reverse("regulation:request_detail", kwargs={"public_id": req.public_id})
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def level2_offer(request, token):
    """The volunteer's mobile page, reached by the signed link of the SMS/e-mail.

    No login: the link is the capability, and the page shows nothing that identifies
    the patient (age, motif, commune, delay)."""
    offer = offer_get_by_token(token=token)
    if offer is None:
        return render(request, "orientation/level2_offer.html", {"invalid": True}, status=404)
    form = Level2AnswerForm(request.POST or None, initial={"start": _next_quarter(hours=1)})
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["action"] == "accept":
                level2_accept(offer=offer, start=form.cleaned_data["start"])
            else:
                level2_decline(offer=offer)
        except ApplicationError as exc:
            error = exc.message
        offer = offer_get_by_token(token=token)
    return render(
        request, "orientation/level2_offer.html", {"offer": offer, "form": form, "error": error}
    )


def _next_quarter(*, hours: int):
    local = timezone.localtime() + timedelta(hours=hours)
    return local.replace(minute=(local.minute // 15) * 15, second=0, microsecond=0)


@require_POST
@require("patients.own")
def refuse_surnumeraire(request, public_id):
    scope = scope_for(request.user)
    booking = booking_get_for_user(scope=scope, public_id=public_id)
    try:
        surnumeraire_refuse(
            booking=booking,
            professional=request.user.professional,
            reason=request.POST.get("reason", "")[:100],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Patient refusé : la demande retourne aux opérateurs.")
    return redirect("orientation:my_patients")
