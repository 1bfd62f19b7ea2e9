"""Back-office pages of the directory: professionals, practices, the CSV import and the
requests to join a CPTS. Thin: scoped selectors (404 outside the territory), services."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from relais.accounts.backoffice import managed_for
from relais.accounts.permissions import require
from relais.core import ratelimit
from relais.core.csv_safety import safe_writer
from relais.core.errors import ApplicationError
from relais.directory.forms import ImportForm, JoinRequestForm, PracticeForm, ProfessionalForm
from relais.directory.imports import COLUMNS, import_apply, import_parse
from relais.directory.models import ImportBatch
from relais.directory.selectors import (
    import_batch_managed_get,
    join_request_managed_get,
    join_requests_for,
    managed_departements,
    practice_managed_get,
    practices_managed,
    professional_managed_get,
    professionals_managed,
)
from relais.directory.services import (
    PROFESSION_FIELDS,
    join_request_decide,
    join_request_submit,
    practice_save,
    professional_save,
    professional_set_active,
)
from relais.territory.selectors import cpts_get_public, cpts_managed_list

PAGE = 100


@require("directory.manage")
def professional_list(request):
    managed = managed_for(request.user)
    query = request.GET.get("q", "")
    show = request.GET.get("actifs", "1")
    professionals = professionals_managed(
        managed=managed, query=query, active=None if show == "tous" else show != "0"
    )
    total = professionals.count()
    return render(
        request,
        "directory/backoffice/professional_list.html",
        {"professionals": professionals[:PAGE], "total": total, "query": query[:100],
         "show": show, "page": PAGE},
    )  # fmt: skip


def _cpts_choices(managed):
    return list(cpts_managed_list(managed=managed))


def _professional_form(request, managed, professional=None):
    choices = _cpts_choices(managed)
    initial = {}
    if professional is not None:
        initial = {f: getattr(professional, f) for f in PROFESSION_FIELDS}
        initial["main_cpts"] = str(professional.cpts.public_id) if professional.cpts else ""
        initial["other_cpts"] = [str(c.public_id) for c in professional.other_cpts.all()]
    elif len(choices) == 1:
        initial["main_cpts"] = str(choices[0].public_id)
    form = ProfessionalForm(request.POST or None, initial=initial, cpts_choices=choices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        by_id = {str(c.public_id): c for c in choices}
        try:
            professional = professional_save(
                actor=request.user,
                managed=managed,
                data={f: data[f] for f in PROFESSION_FIELDS},
                main_cpts=by_id.get(data["main_cpts"]),
                other_cpts=[by_id[i] for i in data["other_cpts"]],
                professional=professional,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Fiche de {professional.display_name} enregistrée.")
            return redirect("directory:professional_edit", public_id=professional.public_id)
    return render(
        request,
        "directory/backoffice/professional_form.html",
        {"form": form, "professional": professional},
    )


@require("directory.manage")
def professional_new(request):
    return _professional_form(request, managed_for(request.user))


@require("directory.manage")
def professional_edit(request, public_id):
    managed = managed_for(request.user)
    professional = professional_managed_get(managed=managed, public_id=public_id)
    return _professional_form(request, managed, professional)


@require_POST
@require("directory.manage")
def professional_toggle(request, public_id):
    managed = managed_for(request.user)
    professional = professional_managed_get(managed=managed, public_id=public_id)
    professional_set_active(
        actor=request.user, professional=professional, active=not professional.active
    )
    state = "réactivé" if not professional.active else "désactivé"
    messages.success(request, f"{professional.display_name} {state}.")
    return redirect("directory:professional_edit", public_id=professional.public_id)


@require("directory.manage")
def practice_list(request):
    managed = managed_for(request.user)
    practices = practices_managed(managed=managed).order_by("commune__name", "name")
    return render(
        request,
        "directory/backoffice/practice_list.html",
        {"practices": practices[:PAGE], "total": practices.count(), "page": PAGE},
    )


def _practice_form(request, managed, practice=None):
    pros = list(professionals_managed(managed=managed, active=True)[:500])
    initial = {}
    if practice is not None:
        initial = {
            "name": practice.name, "address": practice.address,
            "postal_code": (practice.commune.postal_codes.split(";") or [""])[0],
            "city": practice.commune.name, "phone": practice.phone,
            "latitude": practice.latitude, "longitude": practice.longitude,
            "professionals": [str(p.public_id) for p in practice.professionals.all()],
        }  # fmt: skip
        initial.update(PracticeForm.hours_initial(practice))
        pros += [p for p in practice.professionals.all() if p not in pros]
    form = PracticeForm(request.POST or None, initial=initial, professional_choices=pros)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        by_id = {str(p.public_id): p for p in pros}
        try:
            practice = practice_save(
                actor=request.user,
                allowed_departements=set(managed.departement_codes)
                | managed_departements(managed=managed),
                practice=practice,
                professionals=[by_id[i] for i in data.pop("professionals")],
                **data,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"{practice.name} enregistré à {practice.commune.name} "
                f"({practice.latitude:.5f}, {practice.longitude:.5f}).",
            )
            return redirect("directory:practice_list")
    return render(
        request, "directory/backoffice/practice_form.html", {"form": form, "practice": practice}
    )


@require("directory.manage")
def practice_new(request):
    return _practice_form(request, managed_for(request.user))


@require("directory.manage")
def practice_edit(request, public_id):
    managed = managed_for(request.user)
    return _practice_form(
        request, managed, practice_managed_get(managed=managed, public_id=public_id)
    )


# --- CSV import -------------------------------------------------------------------------------


@require("directory.manage")
def import_upload(request):
    managed = managed_for(request.user)
    choices = _cpts_choices(managed)
    form = ImportForm(request.POST or None, request.FILES or None, cpts_choices=choices)
    if request.method == "POST" and form.is_valid():
        from relais.directory.imports import MAX_BYTES, decode

        upload = form.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            form.add_error("file", f"Fichier trop gros (plus de {MAX_BYTES // 1024 // 1024} Mo).")
        else:
            text, _ = decode(upload.read())
            cpts = next(c for c in choices if str(c.public_id) == form.cleaned_data["cpts"])
            batch = ImportBatch.objects.create(
                cpts=cpts, created_by=request.user, filename=upload.name[:200],
                content=text.replace("\x00", ""),
                send_invitations=form.cleaned_data["send_invitations"],
            )  # fmt: skip
            return redirect("directory:import_preview", public_id=batch.public_id)
    return render(
        request, "directory/backoffice/import_upload.html", {"form": form, "columns": COLUMNS}
    )


@require("directory.manage")
def import_template(request):
    """The CSV model: the header and one example line (fictitious professional)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="modele-import-professionnels.csv"'
    response.write("\ufeff")
    writer = safe_writer(response, delimiter=";")
    writer.writerow([names[0] for names in COLUMNS.values()])
    writer.writerow(
        ["10000000009", "Martin", "Claire", "médecin", "SM54", "Cabinet du Parc",
         "2 rue de la Paix", "91000", "Évry-Courcouronnes", "0639980000",
         "claire.martin@example.invalid", "oui", "non"]
    )  # fmt: skip
    return response


@require("directory.manage")
def import_preview(request, public_id):
    managed = managed_for(request.user)
    batch = import_batch_managed_get(managed=managed, public_id=public_id)
    parsed = import_parse(text=batch.content)
    if request.method == "POST":
        if batch.applied_at is not None:
            messages.info(request, "Cet import a déjà été confirmé.")
            return redirect("directory:import_preview", public_id=batch.public_id)
        try:
            summary = import_apply(
                parsed=parsed, cpts=batch.cpts, actor=request.user,
                send_invitations=batch.send_invitations, batch=batch,
            )  # fmt: skip
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"Import terminé : {summary['created']} créés, {summary['updated']} mis à jour, "
                f"{summary['unchanged']} inchangés, "
                f"{summary['refused']} lignes refusées, {summary['invitations']} invitations "
                "en cours d'envoi.",
            )
            return redirect("directory:professional_list")
    return render(
        request,
        "directory/backoffice/import_preview.html",
        {"batch": batch, "parsed": parsed, "shown": parsed.lines[:PAGE], "page": PAGE,
         "creates": sum(1 for x in parsed.accepted if x.action == "create"),
         "updates": sum(1 for x in parsed.accepted if x.action == "update")},
    )  # fmt: skip


def _cell(value):
    return {True: "oui", False: "non"}.get(value, value) if isinstance(value, bool) else value


@require("directory.manage")
def import_errors(request, public_id):
    """The refused lines of a batch with their reasons, as CSV to correct and re-send:
    every cell through the formula-safe writer (relais.core.csv_safety)."""
    managed = managed_for(request.user)
    batch = import_batch_managed_get(managed=managed, public_id=public_id)
    parsed = import_parse(text=batch.content)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lignes-refusees.csv"'
    response.write("\ufeff")
    writer = safe_writer(response, delimiter=";")
    columns = list(COLUMNS)
    writer.writerow(["ligne", "erreurs", *[COLUMNS[c][0] for c in columns]])
    for line in parsed.refused:
        writer.writerow(
            [line.number, " ".join(line.errors), *[_cell(line.values.get(c, "")) for c in columns]]
        )
    return response


# --- joining a CPTS ---------------------------------------------------------------------------

JOIN_LIMITS = (ratelimit.Limit(5, 600), ratelimit.Limit(20, 86400))


def join_request(request, public_id):
    """Public page: a professional asks to join the CPTS with their RPPS."""
    cpts = cpts_get_public(public_id=public_id)
    if cpts is None:
        from django.http import Http404

        raise Http404("CPTS introuvable.")
    form = JoinRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        limits = getattr(settings, "RELAIS_JOIN_LIMITS", JOIN_LIMITS)
        decision = ratelimit.hit("join-ip", ratelimit.client_ip(request), limits)
        if not decision.allowed:
            form.add_error(
                None,
                f"Trop de demandes depuis cette adresse : réessayez dans "
                f"{max(1, decision.retry_after // 60)} minutes.",
            )
        else:
            try:
                join_request_submit(cpts=cpts, data=form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return render(request, "directory/join_done.html", {"cpts": cpts})
    return render(request, "directory/join_request.html", {"form": form, "cpts": cpts})


@require("directory.manage")
def join_requests(request):
    managed = managed_for(request.user)
    return render(
        request,
        "directory/backoffice/join_requests.html",
        {"pending": join_requests_for(managed=managed)[:PAGE],
         "decided": join_requests_for(managed=managed, status=None).exclude(
             status="pending")[:20]},
    )  # fmt: skip


@require_POST
@require("directory.manage")
def join_decide(request, public_id):
    managed = managed_for(request.user)
    join = join_request_managed_get(managed=managed, public_id=public_id)
    accept = request.POST.get("decision") == "accept"
    if request.POST.get("decision") not in ("accept", "refuse"):
        raise PermissionDenied("Décision inconnue.")
    try:
        join_request_decide(actor=request.user, managed=managed, join_request=join, accept=accept)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Demande de {join.first_name} {join.last_name} "
            + ("acceptée : invitation envoyée." if accept else "refusée."),
        )
    return redirect("directory:join_requests")
