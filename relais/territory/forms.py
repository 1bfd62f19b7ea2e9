"""Back-office forms of the territory: SAS and CPTS settings (French labels and errors)."""

import re
from datetime import date, time
from decimal import Decimal

from django import forms

from relais.directory.identifiers import clean

DAYS = {
    1: "lundi",
    2: "mardi",
    3: "mercredi",
    4: "jeudi",
    5: "vendredi",
    6: "samedi",
    7: "dimanche",
}
_RANGE = re.compile(r"^(\d{1,2})[:h](\d{2})\s*-\s*(\d{1,2})[:h](\d{2})$")


def hours_to_text(ranges) -> str:
    return ", ".join(f"{start}-{end}" for start, end in ranges or [])


def parse_ranges(text: str, day_label: str) -> list[list[str]]:
    """ "08:00-12:00, 14:00-18:00" -> [["08:00", "12:00"], ["14:00", "18:00"]]."""
    ranges = []
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        match = _RANGE.match(part)
        if not match:
            raise forms.ValidationError(
                f"{day_label.capitalize()} : « {part} » n'est pas une plage (ex. 08:00-12:00)."
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise forms.ValidationError(
                f"{day_label.capitalize()} : heure invalide dans « {part} »."
            )
        start, end = time(h1, m1), time(23, 59) if h2 == 24 else time(h2, m2)
        if start >= end:
            raise forms.ValidationError(
                f"{day_label.capitalize()} : la fin doit suivre le début (« {part} »)."
            )
        ranges.append([start.strftime("%H:%M"), end.strftime("%H:%M")])
    ranges.sort()
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            raise forms.ValidationError(f"{day_label.capitalize()} : plages qui se chevauchent.")
    return ranges


class SasSettingsForm(forms.Form):
    name = forms.CharField(label="Nom du SAS", max_length=150)
    phone = forms.CharField(label="Téléphone", max_length=20, required=False)
    radius_km = forms.IntegerField(
        label="Rayon de recherche des créneaux (km)", min_value=1, max_value=100,
        help_text="Dense en ville (12 km en Essonne), large en zone rurale (30 km en Haute-Loire).",
    )  # fmt: skip
    forfait_eur = forms.DecimalField(
        label="Forfait annuel de participation au SAS (€)", required=False, min_value=0,
        max_value=99999, decimal_places=2, localize=True,
        error_messages={"min_value": "Le forfait ne peut pas être négatif.",
                        "max_value": "Au plus 99 999 €."},
        help_text="Vide : le montant national (1 400 €). Une CPTS peut fixer le sien.",
    )  # fmt: skip
    forfait_min_weekly_hours = forms.DecimalField(
        label="Heures publiées par semaine pour le forfait", required=False,
        min_value=Decimal("0.5"), max_value=40, decimal_places=2, localize=True,
        error_messages={"min_value": "Au moins 0,5 h par semaine.",
                        "max_value": "Au plus 40 h par semaine."},
        help_text="Vide : 2 h, la règle nationale. Chaque semaine ISO doit les atteindre.",
    )  # fmt: skip


class CptsCreateForm(forms.Form):
    name = forms.CharField(label="Nom", max_length=150)
    finess = forms.CharField(label="FINESS", max_length=12)
    siret = forms.CharField(label="SIRET", max_length=20, required=False)
    phone = forms.CharField(label="Téléphone", max_length=20, required=False)
    email = forms.EmailField(label="E-mail de contact", required=False)

    def clean_finess(self):
        return clean(self.cleaned_data["finess"])

    def clean_siret(self):
        return clean(self.cleaned_data["siret"])


class CptsSettingsForm(forms.Form):
    name = forms.CharField(label="Nom", max_length=150)
    phone = forms.CharField(label="Téléphone", max_length=20, required=False)
    email = forms.EmailField(label="E-mail de contact", required=False)
    address = forms.CharField(label="Adresse", max_length=200, required=False)
    finess = forms.CharField(label="FINESS", max_length=12)
    siret = forms.CharField(label="SIRET", max_length=20, required=False)
    majoration_eur = forms.DecimalField(
        label="Majoration SNP par consultation (€)", required=False, min_value=0,
        max_value=1000, decimal_places=2, help_text="Vide : le montant national (15 €).",
    )  # fmt: skip
    majoration_weekly_cap = forms.IntegerField(
        label="Plafond hebdomadaire de majorations", required=False, min_value=0, max_value=200,
        help_text="Vide : le plafond national (20 par semaine).",
    )  # fmt: skip
    forfait_eur = forms.DecimalField(
        label="Forfait annuel de participation (€)", required=False, min_value=0,
        max_value=100000, decimal_places=2, help_text="Vide : le forfait national (1 400 €).",
    )  # fmt: skip
    closed = forms.CharField(
        label="Fermetures exceptionnelles du formulaire web",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Une date par ligne (JJ/MM/AAAA) ; les jours fériés sont fermés d'office.",
    )
    communes = forms.CharField(
        label="Communes de la CPTS (codes INSEE)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Séparés par des espaces ou des virgules, dans le département du SAS.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for day, label in DAYS.items():
            self.fields[f"hours_{day}"] = forms.CharField(
                label=f"Heures d'ouverture le {label}", required=False, max_length=120,
                help_text="ex. 08:00-12:00, 14:00-18:00 ; vide = fermé" if day == 1 else "",
            )  # fmt: skip

    @classmethod
    def initial_for(cls, cpts) -> dict:
        hours = cpts.service_hours or {}
        initial = {
            f: getattr(cpts, f)
            for f in ("name", "phone", "email", "address", "finess", "siret", "majoration_eur",
                      "majoration_weekly_cap", "forfait_eur")
        }  # fmt: skip
        initial.update({f"hours_{d}": hours_to_text(hours.get(str(d))) for d in DAYS})
        initial["closed"] = "\n".join(
            date.fromisoformat(d).strftime("%d/%m/%Y") for d in hours.get("closed", [])
        )
        initial["communes"] = " ".join(sorted(cpts.communes.values_list("insee", flat=True)))
        return initial

    def clean_finess(self):
        return clean(self.cleaned_data["finess"])

    def clean_siret(self):
        return clean(self.cleaned_data["siret"])

    def clean_closed(self):
        days = []
        for line in (self.cleaned_data["closed"] or "").split():
            try:
                day, month, year = (int(p) for p in line.replace("-", "/").split("/"))
                days.append(date(year, month, day).isoformat())
            except ValueError:
                raise forms.ValidationError(
                    f"« {line} » n'est pas une date (JJ/MM/AAAA)."
                ) from None
        return sorted(set(days))

    def clean(self):
        data = super().clean()
        hours = {}
        for day, label in DAYS.items():
            try:
                ranges = parse_ranges(data.get(f"hours_{day}", ""), label)
            except forms.ValidationError as exc:
                self.add_error(f"hours_{day}", exc)
                continue
            if ranges:
                hours[str(day)] = ranges
        if data.get("closed"):
            hours["closed"] = data["closed"]
        data["service_hours"] = hours
        data["commune_codes"] = re.split(r"[\s,;]+", data.get("communes") or "")
        return data
