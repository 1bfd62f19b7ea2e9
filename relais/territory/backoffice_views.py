"""Back-office pages of the territory: the landing page, SAS and CPTS settings.
Thin: scoped selectors load (404 outside the territory), services write and audit."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from relais.accounts.backoffice import managed_for
from relais.accounts.permissions import require, scope_for
from relais.core.errors import ApplicationError
from relais.territory.forms import CptsCreateForm, CptsSettingsForm, SasSettingsForm
from relais.territory.selectors import (
    cpts_managed_get,
    cpts_managed_list,
    sas_managed_get,
    sas_managed_list,
)
from relais.territory.services import (
    SETTINGS_FIELDS,
    cpts_create,
    cpts_update_settings,
    sas_update_settings,
)


@require("backoffice.view")
def backoffice(request):
    from relais.directory.selectors import join_requests_pending_count

    managed = managed_for(request.user)
    return render(
        request,
        "territory/backoffice.html",
        {
            "managed": managed,
            "sas_list": sas_managed_list(managed=managed),
            "cpts_list": cpts_managed_list(managed=managed),
            "pending_joins": join_requests_pending_count(managed=managed),
            "can_audit": scope_for(request.user).can("audit.view"),
        },
    )


@require("sas.manage")
def sas_settings(request, public_id):
    managed = managed_for(request.user)
    sas = sas_managed_get(managed=managed, public_id=public_id)
    initial = {
        "name": sas.name,
        "phone": sas.phone,
        "radius_km": sas.departement.default_radius_km,
        "forfait_eur": sas.forfait_eur,
        "forfait_min_weekly_hours": sas.forfait_min_weekly_hours,
    }
    form = SasSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            sas_update_settings(actor=request.user, sas=sas, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Réglages du SAS enregistrés.")
            return redirect("territory:backoffice")
    return render(request, "territory/sas_settings.html", {"form": form, "sas": sas})


@require("territory.manage")
def cpts_list(request):
    managed = managed_for(request.user)
    return render(
        request,
        "territory/cpts_list.html",
        {"cpts_list": cpts_managed_list(managed=managed), "managed": managed},
    )


@require("sas.manage")
def cpts_new(request):
    managed = managed_for(request.user)
    sas_choices = list(sas_managed_list(managed=managed))
    if not sas_choices:
        raise PermissionDenied("Vous n'administrez aucun SAS.")
    form = CptsCreateForm(request.POST or None)
    form.fields["sas"] = _sas_field(sas_choices)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        sas = next(s for s in sas_choices if str(s.public_id) == data.pop("sas"))
        try:
            cpts = cpts_create(actor=request.user, sas=sas, **data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{cpts.name} créée : réglez ses heures et ses communes.")
            return redirect("territory:cpts_settings", public_id=cpts.public_id)
    return render(request, "territory/cpts_new.html", {"form": form})


def _sas_field(sas_choices):
    from django import forms

    return forms.ChoiceField(label="SAS", choices=[(str(s.public_id), str(s)) for s in sas_choices])


@require("territory.manage")
def cpts_settings(request, public_id):
    managed = managed_for(request.user)
    cpts = cpts_managed_get(managed=managed, public_id=public_id)
    form = CptsSettingsForm(request.POST or None, initial=CptsSettingsForm.initial_for(cpts))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            cpts_update_settings(
                actor=request.user,
                cpts=cpts,
                data={f: data[f] if data[f] is not None else None for f in SETTINGS_FIELDS},
                commune_codes=data["commune_codes"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Réglages de {cpts.name} enregistrés.")
            return redirect("territory:cpts_settings", public_id=cpts.public_id)
    hour_fields = [form[f"hours_{d}"] for d in range(1, 8)]
    return render(
        request,
        "territory/cpts_settings.html",
        {"form": form, "cpts": cpts, "hour_fields": hour_fields},
    )
