"""Public pages of the web channel (no login): the patients' form and follow-up."""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from relais.audit.services import audit_record
from relais.core.errors import ApplicationError
from relais.orientation.selectors import active_booking_of
from relais.regulation.forms import WebRequestForm
from relais.regulation.selectors import motif_suggestions, request_by_follow_token
from relais.regulation.services import PatientInput, web_request_submit
from relais.territory.selectors import cpts_communes, cpts_get_public
from relais.territory.service_hours import is_open, next_opening


def web_request(request, cpts_id):
    cpts = cpts_get_public(public_id=cpts_id)
    if cpts is None:
        raise Http404("CPTS introuvable.")
    now = timezone.now()
    if not is_open(cpts.service_hours, now):
        return render(
            request,
            "regulation/web/closed.html",
            {"cpts": cpts, "next_opening": next_opening(cpts.service_hours, now)},
        )
    form = WebRequestForm(request.POST or None, communes=cpts_communes(cpts=cpts))
    if request.method == "POST":
        # The red-flag answers come first: any "oui" and nothing is queued.
        if form.red_flag_answered_yes():
            return render(request, "regulation/web/call_15.html", {"cpts": cpts})
        if form.is_valid():
            data = form.cleaned_data
            if motif_suggestions(text=data["motif_text"], limit=1).red_flag:
                return render(request, "regulation/web/call_15.html", {"cpts": cpts})
            try:
                req = web_request_submit(
                    cpts=cpts,
                    data=PatientInput.from_cleaned(data),
                    motif_text=data["motif_text"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return render(request, "regulation/web/thanks.html", {"cpts": cpts, "req": req})
    return render(request, "regulation/web/form.html", {"cpts": cpts, "form": form})


def follow(request, token):
    req = request_by_follow_token(token=token)
    if req is None:
        return render(request, "regulation/web/follow.html", {"invalid": True}, status=404)
    audit_record(patient_link=True, action="read", obj=req, reason="page de suivi")
    return render(
        request,
        "regulation/web/follow.html",
        {"req": req, "booking": active_booking_of(request=req)},
    )
