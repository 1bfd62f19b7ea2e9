from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from relais.accounts.permissions import require, scope_for
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError
from relais.orientation.selectors import active_booking_of, level2_calls_of
from relais.regulation.forms import CloseForm, RequestForm
from relais.regulation.selectors import (
    motif_suggestions,
    request_get_for_user,
    requests_for,
    requests_worklist,
)
from relais.regulation.services import (
    PatientInput,
    patient_find_or_create,
    request_create,
    request_transition,
)


@require("request.view")
def worklist(request):
    scope = scope_for(request.user)
    open_requests = list(requests_worklist(scope=scope)[:200])
    recent = list(requests_for(scope=scope).exclude(status="open").order_by("-updated_at")[:20])
    return render(
        request, "regulation/worklist.html", {"open_requests": open_requests, "recent": recent}
    )


@require("request.create")
def request_new(request):
    scope = scope_for(request.user)
    form = RequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            patient = patient_find_or_create(
                data=PatientInput(
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    birth_date=data["birth_date"],
                    phone=data["phone"],
                    email=data["email"],
                    commune=data["commune"],
                    medecin_traitant=data["medecin_traitant"],
                ),
                user=request.user,
            )
            req = request_create(
                patient=patient,
                channel=data["channel"],
                motif=data["motif"],
                motif_text=data["motif_text"],
                urgency=data["urgency"],
                created_by=request.user,
                scope=scope,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Demande {req.reference} créée.")
            return redirect("regulation:request_detail", public_id=req.public_id)
    return render(request, "regulation/request_new.html", {"form": form})


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
            "close_form": CloseForm(),
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


@require("request.create")
def motif_suggest(request):
    """htmx fragment: CISP-2 suggestions and red-flag alert under the free-text motif."""
    text = request.GET.get("motif_text", "")
    result = motif_suggestions(text=text, limit=4) if len(text.strip()) >= 3 else None
    return render(request, "regulation/partials/motif_suggestions.html", {"result": result})
