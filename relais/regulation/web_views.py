"""Public pages of the web channel (no login): the patients' form and follow-up."""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from relais.audit.services import audit_record
from relais.core.errors import ApplicationError
from relais.orientation.selectors import active_booking_of
from relais.regulation import web_limits
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
            refusal = _abuse_refusal(request, cpts, form)
            if refusal is not None:
                return refusal
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
    return _render_form(request, cpts, form)


def _render_form(request, cpts, form, status=200):
    context = {"cpts": cpts, "form": form}
    if web_limits.pow_enabled():
        context["altcha_challenge"] = web_limits.pow_challenge_json()
    return render(request, "regulation/web/form.html", context, status=status)


def _abuse_refusal(request, cpts, form):
    """Rate limits (per address, per CPTS) then the proof-of-work: the form comes back
    with everything the patient typed and a French message, never a lost request."""
    phone = f" au {cpts.phone}" if cpts.phone else ""
    decision = web_limits.web_form_throttle(request=request, cpts=cpts)
    if not decision.allowed:
        minutes = max(1, -(-decision.retry_after // 60))
        form.add_error(
            None,
            f"Trop de demandes ont été envoyées depuis cette connexion. Votre saisie est "
            f"conservée : réessayez dans {minutes} min, ou appelez la CPTS{phone}.",
        )
        response = _render_form(request, cpts, form, status=429)
        response["Retry-After"] = str(decision.retry_after)
        return response
    if web_limits.pow_enabled() and not web_limits.pow_verify(form.cleaned_data.get("altcha")):
        form.add_error(
            None,
            "La vérification anti-robot n'a pas abouti. Votre saisie est conservée : "
            f"cochez la case de vérification puis renvoyez, ou appelez la CPTS{phone}.",
        )
        return _render_form(request, cpts, form, status=400)
    return None


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
