import re
import uuid

from django import forms
from django.utils import timezone

from relais.directory.selectors import doctor_by_rpps, doctors_named
from relais.regulation.models import (
    Channel,
    Decision,
    Motif,
    Priority,
    RequestStatus,
    Track,
    UrgencyBand,
)
from relais.territory.selectors import commune_get, communes_exact_in_territory, communes_named

INSEE_IN_LABEL = re.compile(r"\b(\d[0-9AB]\d{3})\s*$")


class RequestForm(forms.Form):
    last_name = forms.CharField(
        label="Nom", max_length=100, widget=forms.TextInput(attrs={"autofocus": True})
    )
    first_name = forms.CharField(label="Prénom", max_length=100)
    # Typed as the caller says it, digits only accepted (12041985): a browser date field
    # moves between its day / month / year parts with Tab, in the browser's locale order.
    birth_date = forms.DateField(
        label="Date de naissance (JJ/MM/AAAA)",
        required=False,
        input_formats=["%d/%m/%Y", "%d%m%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%d"],
        widget=forms.DateInput(
            format="%d/%m/%Y",
            attrs={"inputmode": "numeric", "placeholder": "JJ/MM/AAAA", "autocomplete": "off"},
        ),
    )
    phone = forms.CharField(label="Téléphone de rappel", max_length=20)
    email = forms.EmailField(label="E-mail", required=False)
    commune = forms.CharField(
        label="Commune du patient",
        max_length=200,
        help_text="Tapez les premières lettres ou le code postal, puis choisissez.",
    )
    medecin_traitant = forms.CharField(
        label="Médecin traitant (RPPS ou nom)", max_length=200, required=False
    )
    channel = forms.ChoiceField(label="Canal", choices=Channel.choices, initial=Channel.PHONE)
    motif = forms.ModelChoiceField(
        label="Motif (CISP-2)",
        queryset=Motif.objects.all(),
        to_field_name="code",
        required=False,
        empty_label="— choisir —",
    )
    motif_text = forms.CharField(
        label="Motif en clair", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    urgency = forms.ChoiceField(
        label="Délai de prise en charge", choices=UrgencyBand.choices, initial=UrgencyBand.H12_24
    )
    priority = forms.ChoiceField(
        label="Priorité", choices=[("", "—"), *Priority.choices], required=False
    )
    track = forms.ChoiceField(label="Filière", choices=[("", "—"), *Track.choices], required=False)
    to_regulate = forms.BooleanField(label="Transmettre au médecin régulateur", required=False)
    # "new", or the public id of a known patient of the territory the operator confirmed.
    patient_choice = forms.CharField(required=False, max_length=40)

    def __init__(self, *args, territory=(), **kwargs):
        super().__init__(*args, **kwargs)
        # The départements of the operator's territory: a full commune name or postal
        # code unique there is accepted (clean_commune).
        self.territory = list(territory)
        if self.data.get("patient_choice", "new") not in ("", "new"):
            # A known patient taken up: the record has the identity and the commune; the
            # callback number defaults to the record's.
            for name in ("last_name", "first_name", "phone", "commune"):
                self.fields[name].required = False

    def known_patient_chosen(self) -> bool:
        return isinstance(self.cleaned_data.get("patient_choice"), uuid.UUID)

    def clean_patient_choice(self):
        value = (self.cleaned_data.get("patient_choice") or "").strip()
        if value in ("", "new"):
            return value
        try:
            return uuid.UUID(value)
        except ValueError:
            raise forms.ValidationError("Choix du patient invalide.") from None

    def clean_birth_date(self):
        value = self.cleaned_data["birth_date"]
        if value and value > timezone.localdate():
            raise forms.ValidationError("La date de naissance ne peut pas être dans le futur.")
        if value and value.year < 1900:
            raise forms.ValidationError("Date de naissance invraisemblable.")
        return value

    def clean_phone(self):
        value = self.cleaned_data["phone"]
        if not value.strip() and not self.fields["phone"].required:
            return ""
        digits = re.sub(r"[^\d+]", "", value)
        if not re.fullmatch(r"(\+33\d{9}|0\d{9}|\+\d{8,15})", digits):
            raise forms.ValidationError("Numéro de téléphone invalide (ex. 06 12 34 56 78).")
        return digits

    def clean_commune(self):
        value = self.cleaned_data["commune"].strip()
        if not value and not self.fields["commune"].required:
            return None
        match = INSEE_IN_LABEL.search(value)
        if match:
            commune = commune_get(insee=match.group(1))
            if commune:
                return commune
        local = communes_exact_in_territory(
            value=value, departement_codes=getattr(self, "territory", [])
        )
        if len(local) == 1:  # "Massy", "91300": unique in the operator's territory
            return local[0]
        if len(local) > 1:
            names = ", ".join(f"{c.name} ({c.postal_codes.split(';')[0]})" for c in local[:3])
            raise forms.ValidationError(
                f"Plusieurs communes de votre territoire correspondent ({names}) : "
                "choisissez-la dans la liste."
            )
        candidates = communes_named(name=value)
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise forms.ValidationError(
                "Plusieurs communes portent ce nom : choisissez-la dans la liste."
            )
        raise forms.ValidationError("Commune inconnue : choisissez-la dans la liste proposée.")

    def clean_medecin_traitant(self):
        value = self.cleaned_data["medecin_traitant"].strip()
        if not value:
            return None
        rpps = re.search(r"\b(\d{11})\b", value)
        if rpps:
            found = doctor_by_rpps(rpps=rpps.group(1))
        else:
            matches = doctors_named(last_name=value)
            found = matches[0] if len(matches) == 1 else None
        if found is None:
            raise forms.ValidationError(
                "Médecin traitant introuvable : saisissez son RPPS ou choisissez-le dans la liste."
            )
        return found

    def clean(self):
        data = super().clean()
        if not data.get("motif") and not (data.get("motif_text") or "").strip():
            self.add_error("motif", "Choisissez un motif ou décrivez-le en clair.")
        return data


class PatientContactForm(forms.Form):
    """The patient's own details (record), changed explicitly from a request page."""

    phone = forms.CharField(label="Téléphone du patient", max_length=20, required=False)
    email = forms.EmailField(label="E-mail du patient", required=False)
    commune = forms.CharField(label="Commune du patient", max_length=200)
    reason = forms.CharField(label="Raison (facultatif)", max_length=200, required=False)

    clean_phone = RequestForm.clean_phone
    clean_commune = RequestForm.clean_commune


CLOSE_CHOICES = [
    (RequestStatus.ADVICE, "Conseil médical donné"),
    (RequestStatus.REDIRECTED, "Réorienté vers le 15 / les urgences"),
    (RequestStatus.UNPLACED, "Sans solution"),
    (RequestStatus.CANCELLED, "Annulée (doublon, patient injoignable…)"),
]


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(label="Issue", choices=CLOSE_CHOICES)
    reason = forms.CharField(label="Précision", max_length=300)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label="Décision", choices=Decision.choices)
    urgency = forms.ChoiceField(
        label="Délai", choices=[("", "inchangé"), *UrgencyBand.choices], required=False
    )
    note = forms.CharField(
        label="Conseil / commentaire",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # While the red-flag alert is active, a non-emergency decision needs the reason the
    # alert is lifted (services.request_decide records both).
    lift_reason = forms.CharField(
        label="Raison de la levée d'alerte (si la décision n'est pas Urgences / SMUR)",
        required=False,
        max_length=300,
    )


class OverrideForm(forms.Form):
    reason = forms.CharField(
        label="Raison de la levée d'alerte",
        max_length=300,
        widget=forms.TextInput(
            attrs={
                "placeholder": "Raison de la levée d'alerte (obligatoire)",
                "aria-label": "Raison de la levée d'alerte",
            }
        ),
    )


YES_NO = [("non", "Non"), ("oui", "Oui")]


class WebRequestForm(forms.Form):
    """The patients' mobile form (web channel). Red-flag questions are fields too."""

    last_name = forms.CharField(label="Nom", max_length=100)
    first_name = forms.CharField(label="Prénom", max_length=100)
    birth_date = forms.DateField(
        label="Date de naissance", widget=forms.DateInput(attrs={"type": "date"})
    )
    phone = forms.CharField(label="Téléphone portable", max_length=20)
    email = forms.EmailField(label="E-mail (facultatif)", required=False)
    commune = forms.ChoiceField(label="Commune")
    motif_text = forms.CharField(
        label="Décrivez votre problème", max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )
    consent = forms.BooleanField(
        label="J'accepte que mes données soient transmises aux professionnels de santé de la "
        "CPTS pour organiser ma prise en charge."
    )
    # ALTCHA proof-of-work payload, written by the widget (relais/regulation/web_limits.py).
    altcha = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)

    def __init__(self, *args, communes=(), rf_panel=(), **kwargs):
        super().__init__(*args, **kwargs)
        from relais.regulation.web import RED_FLAG_QUESTIONS

        # The confirming questions of the criteria the description matches (issue 15):
        # asked before anything is stored, oui / non only.
        self.rf_panel = list(rf_panel)
        for criterion in self.rf_panel:
            for question in criterion["questions"]:
                self.fields[f"rfq_{question['id']}"] = forms.ChoiceField(
                    label=question["text"], choices=YES_NO, widget=forms.RadioSelect
                )

        self.fields["commune"].choices = [("", "— choisir —")] + [
            (c.insee, c.name) for c in communes
        ]
        self._communes = {c.insee: c for c in communes}
        for key, question in RED_FLAG_QUESTIONS:
            self.fields[f"rf_{key}"] = forms.ChoiceField(
                label=question, choices=YES_NO, widget=forms.RadioSelect
            )

    def red_flag_fields(self):
        return [self[name] for name in self.fields if name.startswith("rf_")]

    def criterion_question_fields(self):
        return [self[name] for name in self.fields if name.startswith("rfq_")]

    def criterion_questions_unanswered(self) -> bool:
        return any(
            self.data.get(name) not in ("oui", "non")
            for name in self.fields
            if name.startswith("rfq_")
        )

    def identity_fields(self):
        return [
            self[name]
            for name in self.fields
            if not name.startswith(("rf_", "rfq_")) and name != "altcha"
        ]

    def red_flag_answered_yes(self) -> bool:
        """A "oui" to one of the general questions (the criteria's questions are read
        with their polarity: red_flags.any_alarming)."""
        return any(self.data.get(name) == "oui" for name in self.fields if name.startswith("rf_"))

    clean_phone = RequestForm.clean_phone
    clean_birth_date = RequestForm.clean_birth_date

    def clean_commune(self):
        return self._communes[self.cleaned_data["commune"]]
