"""Back-office of the partner sources (issue 17, item 6): the agenda software whose free
slots Relais mirrors over FHIR. A SAS administrator manages the sources of their SAS:
create, edit, test the connection, see the last poll and its errors, poll now, enable or
disable. Writes in relais.interop.services; every change audited there."""

import re

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from relais.accounts.models import Role
from relais.accounts.permissions import require
from relais.interop import services
from relais.interop.models import PartnerSource
from relais.territory.models import Sas

ACTION = "interop.reports"  # the SAS administrator (accounts.permissions.POLICY)
RPPS_RE = re.compile(r"^\d{11}$")


def _managed_sas_ids(user) -> frozenset[int]:
    """The SAS the user administers (role admin there; as relais.accounts.backoffice)."""
    return frozenset(
        user.memberships.filter(role=Role.ADMIN, sas__isnull=False).values_list("sas_id", flat=True)
    )


def _source_for(user, pk: int) -> PartnerSource:
    """A source of one of the user's SAS, else 404 (never another territory's)."""
    source = (
        PartnerSource.objects.select_related("sas")
        .filter(pk=pk, sas_id__in=_managed_sas_ids(user))
        .first()
    )
    if source is None:
        raise Http404("Source partenaire introuvable.")
    return source


class PartnerSourceForm(forms.ModelForm):
    base_url = forms.URLField(
        label="URL FHIR de base",
        max_length=200,
        assume_scheme="https",
        help_text="Adresse FHIR du logiciel, par exemple https://agenda.example.fr/fhir",
    )
    token = forms.CharField(
        label="Jeton d'accès",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Laissez vide pour garder le jeton enregistré.",
    )
    rpps_text = forms.CharField(
        label="RPPS suivis",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=(
            "Un RPPS (11 chiffres) par ligne. Vide : tous les professionnels actifs du "
            "territoire du SAS."
        ),
    )

    class Meta:
        model = PartnerSource
        fields = ["name", "sas", "base_url", "booking_mode", "poll_every_minutes"]
        labels = {"name": "Nom (identifiant)", "sas": "SAS"}
        help_texts = {
            "name": "Lettres minuscules, chiffres et tirets ; il nomme la source des créneaux.",
        }

    def __init__(self, *args, sas_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sas"].queryset = Sas.objects.filter(pk__in=sas_ids).order_by("name")
        self.fields["sas"].required = True
        self.fields["sas"].empty_label = None
        self.fields["poll_every_minutes"].min_value = 1
        if self.instance.pk:
            self.fields["rpps_text"].initial = "\n".join(self.instance.rpps or [])
            # The name is the `source` of the mirrored slots: fixed once created.
            self.fields["name"].disabled = True
        else:
            self.fields["token"].help_text = ""

    def clean_poll_every_minutes(self):
        value = self.cleaned_data["poll_every_minutes"]
        if not 1 <= value <= 1440:
            raise forms.ValidationError("Entre 1 et 1 440 minutes.")
        return value

    def clean_base_url(self):
        value = self.cleaned_data["base_url"].rstrip("/")
        if not value.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("L'adresse doit commencer par https:// (ou http://).")
        return value

    def clean(self):
        data = super().clean()
        raw = self.cleaned_data.get("rpps_text") or ""
        values = [v.strip() for v in re.split(r"[\s,;]+", raw) if v.strip()]
        bad = [v for v in values if not RPPS_RE.match(v)]
        if bad:
            self.add_error(
                "rpps_text",
                f"RPPS invalide(s) (11 chiffres attendus) : {', '.join(bad[:5])}"
                + (" …" if len(bad) > 5 else ""),
            )
            return data
        if len(values) > 5000:
            self.add_error("rpps_text", "5 000 RPPS au plus par source.")
            return data
        sas = data.get("sas")
        if values and sas is not None:
            known = set(
                services.professionals_of_sas([sas.pk])
                .filter(rpps__in=values)
                .values_list("rpps", flat=True)
            )
            outside = [v for v in values if v not in known]
            if outside:
                self.add_error(
                    "rpps_text",
                    "Professionnel(s) inconnu(s) ou hors du territoire de ce SAS : "
                    + ", ".join(outside[:5])
                    + (" …" if len(outside) > 5 else ""),
                )
        self.cleaned_rpps = values
        return data


@require(ACTION)
def partner_list(request):
    sources = PartnerSource.objects.filter(
        sas_id__in=_managed_sas_ids(request.user)
    ).select_related("sas")
    return render(request, "interop/partners/list.html", {"sources": sources})


@require(ACTION)
def partner_new(request):
    return _partner_form(request, PartnerSource(), created=True)


@require(ACTION)
def partner_edit(request, pk):
    return _partner_form(request, _source_for(request.user, pk), created=False)


def _partner_form(request, source, *, created):
    sas_ids = _managed_sas_ids(request.user)
    if not sas_ids:
        raise Http404("Aucun SAS administré.")
    previous_token = source.token
    form = PartnerSourceForm(request.POST or None, instance=source, sas_ids=sas_ids)
    if request.method == "POST" and form.is_valid():
        source = form.save(commit=False)
        source.token = form.cleaned_data["token"] or previous_token
        source.rpps = form.cleaned_rpps
        services.partner_source_save(source=source, user=request.user, created=created)
        messages.success(request, "Source enregistrée." if not created else "Source créée.")
        return redirect("interop:partner_edit", pk=source.pk)
    return render(
        request,
        "interop/partners/form.html",
        {"form": form, "source": source if not created else None},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@require(ACTION)
def partner_test(request, pk):
    source = _source_for(request.user, pk)
    ok, message = services.partner_source_test(source=source, user=request.user)
    (messages.success if ok else messages.error)(request, message)
    return redirect("interop:partner_edit", pk=source.pk)


@require_POST
@require(ACTION)
def partner_poll_now(request, pk):
    source = _source_for(request.user, pk)
    if not source.active:
        messages.error(request, "Source désactivée : activez-la avant de l'interroger.")
        return redirect("interop:partner_edit", pk=source.pk)
    from relais.interop.tasks import poll_partner

    poll_partner.enqueue(source.pk)
    messages.success(request, "Interrogation demandée : le résultat s'affiche ci-dessous.")
    return redirect("interop:partner_edit", pk=source.pk)


@require_POST
@require(ACTION)
def partner_set_active(request, pk):
    source = _source_for(request.user, pk)
    wanted = request.POST.get("active")
    if wanted not in ("0", "1"):
        messages.error(request, "Choix invalide.")
        return redirect("interop:partner_edit", pk=source.pk)
    services.partner_source_set_active(source=source, active=wanted == "1", user=request.user)
    messages.success(
        request,
        "Source activée : elle sera interrogée au prochain passage."
        if wanted == "1"
        else "Source désactivée : ses créneaux libres sont retirés de la recherche.",
    )
    return redirect("interop:partner_edit", pk=source.pk)
