"""Back-office forms of the directory (French labels; the rules are in services.py)."""

from django import forms

from relais.directory.identifiers import clean
from relais.directory.models import Profession
from relais.territory.forms import DAYS, hours_to_text, parse_ranges


class ProfessionalForm(forms.Form):
    rpps = forms.CharField(label="RPPS", max_length=20, help_text="11 chiffres.")
    adeli = forms.CharField(label="ADELI (facultatif)", max_length=12, required=False)
    profession = forms.ChoiceField(label="Profession", choices=Profession.choices)
    specialty = forms.CharField(
        label="Spécialité (code TRE_R38)", max_length=10, required=False,
        help_text="SM54 = médecine générale.",
    )  # fmt: skip
    first_name = forms.CharField(label="Prénom", max_length=100)
    last_name = forms.CharField(label="Nom", max_length=100)
    phone = forms.CharField(label="Téléphone", max_length=20, required=False)
    email = forms.EmailField(label="E-mail", required=False)
    main_cpts = forms.ChoiceField(label="CPTS principale", required=False)
    other_cpts = forms.MultipleChoiceField(
        label="Autres CPTS", required=False, widget=forms.CheckboxSelectMultiple
    )
    sas_participant = forms.BooleanField(label="Participe au SAS (niveau 1)", required=False)
    cpts_level2 = forms.BooleanField(label="Volontaire niveau 2 de la CPTS", required=False)
    accepts_surnumeraire = forms.BooleanField(
        label="Accepte des patients en surnuméraire", required=False
    )

    def __init__(self, *args, cpts_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(c.public_id), c.name) for c in cpts_choices]
        self.fields["main_cpts"].choices = [("", "— aucune —"), *choices]
        self.fields["other_cpts"].choices = choices

    def clean_rpps(self):
        return clean(self.cleaned_data["rpps"])

    def clean_adeli(self):
        return clean(self.cleaned_data["adeli"])

    def clean(self):
        data = super().clean()
        if data.get("sas_participant"):
            data["accepts_surnumeraire"] = True
        return data


class PracticeForm(forms.Form):
    name = forms.CharField(label="Nom du lieu", max_length=150)
    address = forms.CharField(label="Adresse (numéro et voie)", max_length=200)
    postal_code = forms.CharField(label="Code postal", max_length=5)
    city = forms.CharField(label="Commune", max_length=100)
    phone = forms.CharField(label="Téléphone", max_length=20, required=False)
    latitude = forms.FloatField(
        label="Latitude", required=False,
        help_text="Vide : le centre de la commune (aucun service de géocodage n'est joignable "
        "depuis Relais). Ajustez si le cabinet est loin du centre.",
    )  # fmt: skip
    longitude = forms.FloatField(label="Longitude", required=False)
    professionals = forms.MultipleChoiceField(
        label="Professionnels qui y consultent", required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip

    def __init__(self, *args, professional_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["professionals"].choices = [
            (str(p.public_id), f"{p.display_name} ({p.rpps})") for p in professional_choices
        ]
        # Opening hours in the CPTS service-hours shape and validation (territory.forms).
        for day, label in DAYS.items():
            self.fields[f"hours_{day}"] = forms.CharField(
                label=f"Heures d'ouverture le {label}", required=False, max_length=120,
                help_text="ex. 08:00-12:00, 14:00-18:00 ; tous les jours vides = les horaires "
                "par défaut (lundi au vendredi 8 h - 20 h, samedi 8 h - 12 h)" if day == 1 else "",
            )  # fmt: skip

    @staticmethod
    def hours_initial(practice) -> dict:
        hours = practice.opening_hours or {}
        return {f"hours_{d}": hours_to_text(hours.get(str(d))) for d in DAYS}

    def clean(self):
        data = super().clean()
        hours = {}
        for day, label in DAYS.items():
            try:
                ranges = parse_ranges(data.pop(f"hours_{day}", ""), label)
            except forms.ValidationError as exc:
                self.add_error(f"hours_{day}", exc)
                continue
            if ranges:
                hours[str(day)] = ranges
        data["opening_hours"] = hours
        return data


class ImportForm(forms.Form):
    cpts = forms.ChoiceField(label="CPTS")
    file = forms.FileField(label="Fichier CSV")
    send_invitations = forms.BooleanField(
        label="Inviter par e-mail les professionnels sans compte (après confirmation)",
        required=False,
    )

    def __init__(self, *args, cpts_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cpts"].choices = [(str(c.public_id), c.name) for c in cpts_choices]


class JoinRequestForm(forms.Form):
    rpps = forms.CharField(label="Votre numéro RPPS", max_length=20, help_text="11 chiffres.")
    profession = forms.ChoiceField(label="Profession", choices=Profession.choices)
    first_name = forms.CharField(label="Prénom", max_length=100)
    last_name = forms.CharField(label="Nom", max_length=100)
    email = forms.EmailField(label="E-mail professionnel")
    phone = forms.CharField(label="Téléphone", max_length=20, required=False)
    message = forms.CharField(
        label="Message au coordinateur (facultatif)", max_length=500, required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
