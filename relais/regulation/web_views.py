"""Public pages of the web channel (no login): the patients' form and follow-up."""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from relais.audit.services import audit_record
from relais.core.errors import ApplicationError
from relais.orientation.selectors import MIN_LEAD, active_booking_of
from relais.regulation import web_limits
from relais.regulation.forms import WebRequestForm
from relais.regulation.red_flags import (
    age_in_years,
    any_alarming,
    intake_questions,
    posted_answers,
    red_flag_panel,
)
from relais.regulation.selectors import request_by_follow_token
from relais.regulation.services import PatientInput, web_request_submit
from relais.regulation.web import chosen_slot
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
    # The slot chosen on its public page, carried as a signed token in the address (no
    # patient data); the form posts back to the same address, so it stays with it.
    wanted = _chosen_slot(request, cpts)
    asked = []
    if request.method == "POST":
        # The confirming questions of the criteria the description matches are fields
        # of the form: they must all be answered before anything is stored.
        asked = intake_questions(
            (request.POST.get("motif_text") or "")[:1000],
            age_years=age_in_years(_posted_birth_date(request.POST)),
        )
    form = WebRequestForm(
        request.POST or None,
        communes=cpts_communes(cpts=cpts),
        rf_panel=red_flag_panel(asked, {}),
    )
    if request.method == "POST":
        # The red-flag answers come first: any "oui" (any answer that confirms a
        # criterion) and nothing is queued.
        if form.red_flag_answered_yes() or any_alarming(asked, posted_answers(request.POST, asked)):
            return render(request, "regulation/web/call_15.html", {"cpts": cpts})
        if form.criterion_questions_unanswered():
            form.add_error(
                None,
                "Ce que vous décrivez appelle quelques questions importantes (en haut du "
                "formulaire) : répondez-y, puis renvoyez votre demande.",
            )
        elif form.is_valid():
            data = form.cleaned_data
            refusal = _abuse_refusal(request, cpts, form)
            if refusal is not None:
                return refusal
            try:
                # All "non": stored with the answers; a red flag of the text itself still
                # sends the request to the médecin régulateur (request_create).
                req = web_request_submit(
                    cpts=cpts,
                    data=PatientInput.from_cleaned(data),
                    motif_text=data["motif_text"],
                    red_flag_answers=posted_answers(request.POST, asked) if asked else None,
                    wanted_slot=wanted,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return render(request, "regulation/web/thanks.html", {"cpts": cpts, "req": req})
    return _render_form(request, cpts, form, wanted=wanted)


def _chosen_slot(request, cpts):
    not_before = timezone.now() + MIN_LEAD  # the lead the public slot page applies
    return chosen_slot(request.GET.get("creneau", ""), cpts=cpts, not_before=not_before)


def _posted_birth_date(data):
    from datetime import date

    try:
        return date.fromisoformat((data.get("birth_date") or "").strip())
    except ValueError:
        return None


def _render_form(request, cpts, form, status=200, wanted=None):
    if wanted is None:
        wanted = _chosen_slot(request, cpts)
    context = {"cpts": cpts, "form": form, "wanted_slot": wanted}
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
