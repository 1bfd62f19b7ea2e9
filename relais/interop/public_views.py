"""The patient-facing page of a public slot: the `booking-deep-link` of the SMART
Scheduling Links feed (/fhir/$bulk-publish). No login; no patient data on it.

The web channel's rules apply: outside the CPTS's service hours the "service fermé"
page of the web form is shown; open, the patient continues to the CPTS web form (the
red-flag questions, the consent), never to a staff page."""

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from relais.agenda.models import Slot, SlotStatus
from relais.orientation.selectors import MIN_LEAD
from relais.regulation.web import chosen_slot_token
from relais.territory.service_hours import is_open, next_opening


def public_slot(request, public_id):
    if request.method not in ("GET", "HEAD"):
        raise Http404
    slot = (
        Slot.objects.select_related(
            "professional__cpts", "practice__commune__departement", "partner_mirror"
        )
        .filter(public_id=public_id, for_public=True, professional__active=True)
        .first()
    )
    if slot is None:
        raise Http404("Créneau introuvable.")
    cpts = slot.professional.cpts
    now = timezone.now()
    if cpts is not None and not is_open(cpts.service_hours, now):
        response = render(
            request,
            "regulation/web/closed.html",
            {"cpts": cpts, "next_opening": next_opening(cpts.service_hours, now)},
        )
    else:
        available = slot.status == SlotStatus.FREE and slot.start > now + MIN_LEAD
        form_url = ""
        if cpts is not None:
            form_url = reverse("regulation:web_request", args=[cpts.public_id])
            if available and not slot.is_partner_mirror:
                # The form carries the chosen slot: a signed token, no patient data.
                form_url += "?" + urlencode({"creneau": chosen_slot_token(slot)})
        mirror = getattr(slot, "partner_mirror", None) if slot.is_partner_mirror else None
        # A partner's slot is booked on the partner's own agenda (its link), not here.
        partner_link = mirror.deep_link if mirror is not None else ""
        response = render(
            request,
            "interop/public_slot.html",
            {
                "slot": slot,
                "cpts": cpts,
                "available": available,
                "form_url": form_url,
                "partner_link": partner_link,
            },
            status=200 if available else 410,
        )
    # The page follows the slot's status: never kept by a shared cache.
    response["Cache-Control"] = "no-cache, max-age=0"
    return response
