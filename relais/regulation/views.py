from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from relais.accounts.models import Role
from relais.accounts.permissions import require, scope_for
from relais.audit.services import audit_record, audit_record_reads
from relais.core.errors import ApplicationError
from relais.orientation.selectors import active_booking_of, level2_calls_of
from relais.regulation.forms import (
    CloseForm,
    DecisionForm,
    OverrideForm,
    PatientContactForm,
    RequestForm,
)
from relais.regulation.handover import handover_initial
from relais.regulation.models import RequestStatus
from relais.regulation.red_flags import (
    age_in_years,
    all_answered,
    any_alarming,
    intake_questions,
    posted_answers,
    red_flag_banner,
    red_flag_panel,
)
from relais.regulation.selectors import (
    deadline_state,
    motif_suggestions,
    patients_search,
    request_get_for_user,
    requests_for,
    requests_to_regulate,
    requests_worklist,
)
from relais.regulation.services import (
    PatientChoiceNeeded,
    PatientInput,
    patient_update_contact,
    request_decide,
    request_intake,
    request_merge,
    request_override_red_flag,
    request_transition,
)
from relais.territory.selectors import departement_codes_for_scope

WORKLIST_AUDIT_SECONDS = 600


def _worklist_context(request) -> dict:
    scope = scope_for(request.user)
    now = timezone.now()
    open_requests = list(requests_worklist(scope=scope)[:200])
    to_regulate = list(requests_to_regulate(scope=scope)[:200])
    for req in [*open_requests, *to_regulate]:
        req.due = deadline_state(req, now=now)
        req.age_label = _age_label(now - req.created_at)
    return {
        "open_requests": open_requests,
        "to_regulate": to_regulate,
        "now": now,
        "alarm_ids": " ".join(r.reference for r in [*to_regulate, *open_requests] if r.alarm == 0),
    }


def _age_label(age) -> str:
    """A row's age as an operator reads it: "à l'instant", "il y a 12 min", "il y a 3 h 05"."""
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 1:
        return "à l'instant"
    if minutes < 60:
        return f"il y a {minutes} min"
    if minutes < 48 * 60:
        return f"il y a {minutes // 60} h {minutes % 60:02d}"
    return f"il y a {minutes // (24 * 60)} jours"


def _audit_worklist(request, shown) -> None:
    """The worklist shows identities: one audit row per patient shown, in one query. The
    live refresh re-reads the list every few seconds; a patient already audited for this
    session's worklist in the last ten minutes is not written again at every poll."""
    now = int(timezone.now().timestamp())
    seen = request.session.get("worklist_audited") or {}
    if now - seen.get("since", 0) > WORKLIST_AUDIT_SECONDS:
        seen = {"since": now, "ids": []}
    already = set(seen["ids"])
    new = [p for p in {p.pk: p for p in shown}.values() if str(p.public_id) not in already]
    audit_record_reads(user=request.user, objects=new, reason="liste de travail")
    if new:
        seen["ids"] = [*seen["ids"], *(str(p.public_id) for p in new)]
        request.session["worklist_audited"] = seen


@require("request.view")
def worklist(request):
    context = _worklist_context(request)
    recent = list(
        requests_for(scope=scope_for(request.user))
        .exclude(status__in=[RequestStatus.OPEN, RequestStatus.TO_REGULATE])
        .order_by("-updated_at")[:20]
    )
    # Every page load is audited in full (as before); the polls only add newcomers.
    request.session.pop("worklist_audited", None)
    shown = [r.patient for r in [*context["to_regulate"], *context["open_requests"]]]
    _audit_worklist(request, shown)
    audit_record_reads(
        user=request.user, objects=[r.patient for r in recent], reason="liste de travail"
    )
    return render(request, "regulation/worklist.html", {**context, "recent": recent})


@require("request.view")
def worklist_live(request):
    """htmx fragment polled by the worklist page: the two lists, their counts and the
    red-flag references (the page alerts on a newcomer)."""
    context = _worklist_context(request)
    _audit_worklist(
        request, [r.patient for r in [*context["to_regulate"], *context["open_requests"]]]
    )
    return render(request, "regulation/partials/worklist_live.html", context)


def _asked_questions(form):
    """The confirming questions of the criteria the typed motif matches, and the
    answers posted for them (the panel regulation/_red_flag_questions.html)."""
    data = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else {}
    birth_date = data.get("birth_date")
    asked = intake_questions(
        (form.data.get("motif_text") or "") if form.is_bound else "",
        age_years=age_in_years(birth_date) if birth_date else None,
    )
    return asked, posted_answers(form.data, asked) if form.is_bound else {}


def _intake(request, form, scope, **fields):
    """Create the request of a valid intake/referral form. Returns the request, or None
    with the form's errors set (candidates to confirm are put on the form)."""
    data = form.cleaned_data
    try:
        req, notes = request_intake(
            scope=scope,
            user=request.user,
            data=PatientInput.from_cleaned(data),
            patient_choice=data["patient_choice"],
            motif=data["motif"],
            urgency=data["urgency"],
            **fields,
        )
    except PatientChoiceNeeded as exc:
        form.candidates = exc.candidates
        audit_record_reads(user=request.user, objects=exc.candidates, reason="patient connu ?")
        form.add_error(None, exc.message)
        return None
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return None
    for note in notes:
        messages.info(request, note)
    return req


@require("request.create")
def request_new(request):
    scope = scope_for(request.user)
    initial = {"to_regulate": Role.ARM in scope.roles and Role.OPERATEUR not in scope.roles}
    initial.update(handover_initial(request.GET))
    form = RequestForm(
        request.POST or None, initial=initial, territory=departement_codes_for_scope(scope)
    )
    asked, answers = [], {}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        asked, answers = _asked_questions(form)
        req = _intake(
            request,
            form,
            scope,
            channel=data["channel"],
            motif_text=data["motif_text"],
            priority=data["priority"],
            track=data["track"],
            to_regulate=data["to_regulate"],
            # At intake the answers are optional (unanswered: "ne sait pas"); a "oui"
            # confirms its criterion, and the request goes to the régulateur.
            red_flag_answers=answers if asked else None,
        )
        if req is not None:
            messages.success(request, f"Demande {req.reference} créée.")
            return redirect("regulation:request_detail", public_id=req.public_id)
    elif form.is_bound:
        asked, answers = _asked_questions(form)
    return render(
        request,
        "regulation/request_new.html",
        {"form": form, "rf_panel": red_flag_panel(asked, answers), "rf_unknown_allowed": True},
    )


@require_POST
@require("request.create", "request.refer")
def red_flag_questions(request):
    """htmx fragment under the motif: the confirming questions of the red-flag criteria
    the motif matches, with the answers already given kept (POST: symptoms never travel
    in a URL). The ARM may answer "ne sait pas"; a referring professional answers oui/non."""
    from django.core.exceptions import ValidationError

    try:  # as the intake form reads it (JJ/MM/AAAA, digits only, or ISO)
        birth_date = RequestForm.base_fields["birth_date"].clean(
            (request.POST.get("birth_date") or "").strip()[:20]
        )
    except ValidationError:
        birth_date = None
    asked = intake_questions(
        request.POST.get("motif_text", "")[:2000], age_years=age_in_years(birth_date)
    )
    return render(
        request,
        "regulation/partials/red_flag_questions_list.html",
        {
            "rf_panel": red_flag_panel(asked, posted_answers(request.POST, asked)),
            "rf_unknown_allowed": request.POST.get("rf_mode") != "referral",
        },
    )


@require("request.view")
def request_detail(request, public_id):
    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    audit_record(user=request.user, action="read", obj=req, reason="fiche demande")
    return render(
        request,
        "regulation/request_detail.html",
        {
            "req": req,
            "booking": active_booking_of(request=req),
            "level2_calls": level2_calls_of(request=req),
            "events": req.events.select_related("actor"),
            "red_flag": red_flag_banner(req) if req.red_flag else None,
            "close_form": CloseForm(),
            "decision_form": DecisionForm(),
            "override_form": OverrideForm(),
            "contact_form": PatientContactForm(
                initial={
                    "phone": req.patient.phone,
                    "email": req.patient.email,
                    "commune": f"{req.patient.commune.name} — {req.patient.commune.insee}",
                }
            ),
        },
    )


@require_POST
@require("request.orient")
def request_close(request, public_id):
    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choisissez une issue et précisez-la.")
        return redirect("regulation:request_detail", public_id=req.public_id)
    try:
        request_transition(
            request=req,
            to_status=form.cleaned_data["outcome"],
            actor=request.user,
            note=form.cleaned_data["reason"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Demande {req.reference} close.")
    return redirect("regulation:request_detail", public_id=req.public_id)


@require_POST
@require("request.create")
def motif_suggest(request):
    """htmx fragment: CISP-2 suggestions and red-flag alert under the free-text motif.
    POST only: the symptoms typed must not travel in a URL (access logs, history)."""
    text = request.POST.get("motif_text", "")
    result = motif_suggestions(text=text, limit=4) if len(text.strip()) >= 3 else None
    return render(request, "regulation/partials/motif_suggestions.html", {"result": result})


@require_POST
@require("request.decide")
def request_decide_view(request, public_id):
    req = request_get_for_user(scope=scope_for(request.user), public_id=public_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choisissez une décision.")
    else:
        try:
            request_decide(
                request=req,
                user=request.user,
                decision=form.cleaned_data["decision"],
                urgency=form.cleaned_data["urgency"] or None,
                note=form.cleaned_data["note"],
                lift_reason=form.cleaned_data["lift_reason"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Décision enregistrée : {req.get_decision_display()}.")
    return redirect("regulation:request_detail", public_id=req.public_id)


@require_POST
@require("request.decide")
def request_override(request, public_id):
    req = request_get_for_user(scope=scope_for(request.user), public_id=public_id)
    form = OverrideForm(request.POST)
    try:
        if not form.is_valid():
            raise ApplicationError("Indiquez pourquoi l'alerte est levée.")
        request_override_red_flag(
            request=req, user=request.user, reason=form.cleaned_data["reason"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Alerte levée : la réservation d'un créneau est possible.")
    return redirect("regulation:request_detail", public_id=req.public_id)


@require_POST
@require("request.merge")
def request_merge_view(request, public_id):
    scope = scope_for(request.user)
    duplicate = request_get_for_user(scope=scope, public_id=public_id)
    if duplicate.duplicate_of_id is None:
        messages.error(request, "Cette demande n'a pas de doublon signalé.")
        return redirect("regulation:request_detail", public_id=duplicate.public_id)
    into = request_get_for_user(scope=scope, public_id=duplicate.duplicate_of.public_id)
    try:
        request_merge(duplicate=duplicate, into=into, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("regulation:request_detail", public_id=duplicate.public_id)
    messages.success(request, f"Demande fusionnée dans {into.reference}.")
    return redirect("regulation:request_detail", public_id=into.public_id)


@require("request.refer")
def referral_new(request):
    """A pharmacist, nurse or physio refers the patient in front of them."""
    scope = scope_for(request.user)
    form = RequestForm(
        request.POST or None,
        initial={"channel": "professional"},
        territory=departement_codes_for_scope(scope),
    )
    asked, answers = [], {}
    if request.method == "POST":
        # The confirming questions of the motif come first: any "oui" and nothing is
        # stored (no patient, no request), the professional is told to call the 15.
        form.is_valid()
        asked, answers = _asked_questions(form)
        if any_alarming(asked, answers):
            return render(request, "regulation/referral_call_15.html")
        if form.is_valid() and not all_answered(asked, answers):
            form.add_error(
                None,
                "Le motif évoque un signe de gravité : répondez par Oui ou Non à chacune "
                "des questions sous le motif avant de transmettre.",
            )
        elif form.is_valid():
            data = form.cleaned_data
            professional = getattr(request.user, "professional", None)
            by = f"Adressé par {professional.display_name}" if professional else "Adressé"
            req = _intake(
                request,
                form,
                scope,
                channel="professional",
                motif_text=f"{data['motif_text']}\n[{by}]".strip(),
                red_flag_answers=answers if asked else None,
            )
            if req is not None:
                return render(request, "regulation/referral_done.html", {"req": req})
    return render(
        request,
        "regulation/request_new.html",
        {
            "form": form,
            "referral": True,
            "rf_panel": red_flag_panel(asked, answers),
            "rf_unknown_allowed": False,
        },
    )


@require_POST
@require("request.create")
def patient_lookup(request):
    """htmx fragment: known patients of the territory matching the typed name, so that
    the same person is taken up again rather than typed twice."""
    scope = scope_for(request.user)
    patients = patients_search(scope=scope, query=request.POST.get("last_name", ""))
    audit_record_reads(user=request.user, objects=patients, reason="recherche patient")
    return render(request, "regulation/partials/patient_matches.html", {"patients": patients})


@require("patients.export")
def patient_export_view(request, public_id):
    """Everything held on the patient of a request, for an access request (admin, audited)."""
    import json

    from django.http import HttpResponse

    from relais.regulation.retention import patient_export

    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    data = patient_export(patient=req.patient, scope=scope, user=request.user)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="patient-{req.reference}.json"'
    return response


@require_POST
@require("request.create", "request.orient")
def patient_contact_update(request, public_id):
    """Change the patient's own details (record), explicitly and audited, from one of
    their requests. The requests already made keep their callback contact."""
    scope = scope_for(request.user)
    req = request_get_for_user(scope=scope, public_id=public_id)
    form = PatientContactForm(request.POST)
    if not form.is_valid():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        messages.error(request, " ".join(errors) or "Formulaire invalide.")
        return redirect("regulation:request_detail", public_id=req.public_id)
    data = form.cleaned_data
    try:
        changed = patient_update_contact(
            patient=req.patient,
            scope=scope,
            user=request.user,
            phone=data["phone"],
            email=data["email"],
            commune=data["commune"],
            reason=data["reason"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Fiche du patient mise à jour." if changed else "Aucune modification de la fiche.",
        )
    return redirect("regulation:request_detail", public_id=req.public_id)
