"""Forms of the professional's agenda pages: they parse input, services validate it."""

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from relais.agenda.models import ExceptionKind, Modality
from relais.agenda.services import WEEKDAY_NAMES, RuleInput
from relais.directory.models import ParticipationMode
from relais.regulation.models import Motif

CHANNELS = [
    ("for_sas", "SAS (niveau 1)"),
    ("for_cpts", "CPTS (niveau 2)"),
    ("for_public", "Prise de rendez-vous en ligne"),
    ("for_partners", "Logiciels partenaires"),
]
# Every date a page accepts lies in these years (issue 19: year 9999 overflowed, a 500).
MIN_YEAR, MAX_YEAR = 2000, 2100


def bounded_day(value):
    """A date field's value, refused in French outside MIN_YEAR..MAX_YEAR."""
    if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise forms.ValidationError(
            f"Date hors limites : choisissez une date entre {MIN_YEAR} et {MAX_YEAR}."
        )
    return value


TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class MotifChoiceField(forms.ModelMultipleChoiceField):
    """Motifs chosen by their French label (the CISP-2 code shown after it)."""

    def label_from_instance(self, obj) -> str:
        return f"{obj.label} ({obj.code})"

    def clean(self, value):
        # Codes typed by hand (older forms, scripts) are accepted in any case.
        if isinstance(value, list | tuple):
            value = [v.strip().upper() for v in value if v and v.strip()]
        return super().clean(value)


class RuleForm(forms.Form):
    weekdays = forms.TypedMultipleChoiceField(
        label="Jours",
        choices=[(i, name.capitalize()) for i, name in enumerate(WEEKDAY_NAMES)],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choisissez au moins un jour de la semaine."},
    )
    start_time = forms.TimeField(label="De", widget=TIME)
    end_time = forms.TimeField(label="À", widget=TIME, help_text="00:00 = minuit")
    kind = forms.ChoiceField(
        label="Type",
        choices=[("slots", "Créneaux d'une durée fixe"), ("plage", "Plage (nombre de patients)")],
        initial="slots",
        widget=forms.RadioSelect,
    )
    slot_minutes = forms.IntegerField(label="Durée d'un créneau (min)", required=False, initial=20)
    capacity = forms.IntegerField(label="Patients dans la plage", required=False, initial=1)
    practice = forms.ChoiceField(label="Lieu")
    modality = forms.ChoiceField(label="Modalité", choices=Modality.choices)
    channels = forms.MultipleChoiceField(
        label="Visible par",
        choices=CHANNELS,
        required=False,
        initial=["for_sas", "for_cpts"],
        widget=forms.CheckboxSelectMultiple,
    )
    motifs = MotifChoiceField(
        queryset=Motif.objects.order_by("label"),
        to_field_name="code",
        label="Motifs acceptés",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Cherchez par le nom du motif ; aucun coché : tous les motifs.",
        error_messages={
            "invalid_choice": "Motif inconnu : %(value)s.",
            "invalid_pk_value": "Motif inconnu : %(pk)s.",
        },
    )
    age_min = forms.IntegerField(label="Âge minimum", required=False)
    age_max = forms.IntegerField(label="Âge maximum", required=False)
    valid_from = forms.DateField(label="À partir du", required=False, widget=DATE)
    valid_until = forms.DateField(label="Jusqu'au", required=False, widget=DATE)
    skip_public_holidays = forms.BooleanField(
        label="Sauf jours fériés", required=False, initial=True
    )

    def __init__(self, *args, professional, **kwargs):
        super().__init__(*args, **kwargs)
        self.practices = {str(p.public_id): p for p in professional.practices.all()}
        self.fields["practice"].choices = [(key, str(p)) for key, p in self.practices.items()]

    def clean_valid_from(self):
        return bounded_day(self.cleaned_data.get("valid_from"))

    def clean_valid_until(self):
        return bounded_day(self.cleaned_data.get("valid_until"))

    def clean_motifs(self):
        return list(self.cleaned_data["motifs"])

    def rule_input(self) -> RuleInput:
        data = self.cleaned_data
        plage = data["kind"] == "plage"
        return RuleInput(
            practice=self.practices.get(data["practice"]),
            weekdays=data["weekdays"],
            start_time=data["start_time"],
            end_time=data["end_time"],
            slot_minutes=None if plage else data.get("slot_minutes"),
            capacity=(data.get("capacity") or 1) if plage else 1,
            modality=data["modality"],
            motifs=data["motifs"],
            age_min=data.get("age_min"),
            age_max=data.get("age_max"),
            valid_from=data.get("valid_from"),
            valid_until=data.get("valid_until"),
            skip_public_holidays=data.get("skip_public_holidays", False),
            **{name: name in data["channels"] for name, _ in CHANNELS},
        )

    def clean(self):
        data = super().clean()
        if data.get("kind") == "slots" and not data.get("slot_minutes"):
            self.add_error("slot_minutes", "Indiquez la durée d'un créneau.")
        if data.get("kind") == "plage" and not data.get("capacity"):
            self.add_error("capacity", "Indiquez le nombre de patients de la plage.")
        return data

    @classmethod
    def initial_for(cls, rule) -> dict:
        return {
            "weekdays": rule.weekdays,
            "start_time": rule.start_time,
            "end_time": rule.end_time,
            "kind": "plage" if rule.slot_minutes is None else "slots",
            "slot_minutes": rule.slot_minutes,
            "capacity": rule.capacity,
            "practice": str(rule.practice.public_id),
            "modality": rule.modality,
            "channels": [name for name, _ in CHANNELS if getattr(rule, name)],
            "motifs": [m.code for m in rule.motifs.all()],
            "age_min": rule.age_min,
            "age_max": rule.age_max,
            "valid_from": rule.valid_from,
            "valid_until": rule.valid_until,
            "skip_public_holidays": rule.skip_public_holidays,
        }


class AbsenceForm(forms.Form):
    kind = forms.ChoiceField(label="Type", choices=ExceptionKind.choices)
    first_day = forms.DateField(label="Du", widget=DATE)
    last_day = forms.DateField(label="Au (inclus)", widget=DATE)
    start_time = forms.TimeField(
        label="À partir de", required=False, widget=TIME, help_text="vide : toute la journée"
    )
    end_time = forms.TimeField(label="Jusqu'à", required=False, widget=TIME)
    label = forms.CharField(label="Libellé", required=False, max_length=100)

    def clean_first_day(self):
        return bounded_day(self.cleaned_data["first_day"])

    def clean_last_day(self):
        return bounded_day(self.cleaned_data["last_day"])

    def clean(self):
        data = super().clean()
        first, last = data.get("first_day"), data.get("last_day")
        if first and last and last < first:
            self.add_error(
                "last_day", "Le dernier jour de l'absence précède le premier : vérifiez les dates."
            )
        return data

    def period(self) -> tuple[datetime, datetime]:
        data = self.cleaned_data
        start = timezone.make_aware(
            datetime.combine(data["first_day"], data.get("start_time") or time(0))
        )
        if data.get("end_time"):
            end = timezone.make_aware(datetime.combine(data["last_day"], data["end_time"]))
        else:
            end = timezone.make_aware(
                datetime.combine(data["last_day"] + timedelta(days=1), time(0))
            )
        return start, end


class _PlacedSlotsForm(forms.Form):
    """Where and for whom slots made outside a weekly rule go: the professional's place,
    the modality and the channels (the one-off form and the .ics import)."""

    practice = forms.ChoiceField(label="Lieu")
    modality = forms.ChoiceField(label="Modalité", choices=Modality.choices)
    channels = forms.MultipleChoiceField(
        label="Visible par",
        choices=CHANNELS,
        initial=["for_sas", "for_cpts"],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choisissez au moins un canal."},
    )

    def __init__(self, *args, professional, **kwargs):
        super().__init__(*args, **kwargs)
        self.practices = {str(p.public_id): p for p in professional.practices.all()}
        self.fields["practice"].choices = [(k, str(p)) for k, p in self.practices.items()]


class OneOffForm(_PlacedSlotsForm):
    """One slot (or a plage of N patients) on a given day, outside any weekly rule."""

    day = forms.DateField(label="Jour", widget=DATE)
    start_time = forms.TimeField(label="De", widget=TIME)
    end_time = forms.TimeField(label="À", widget=TIME)
    field_order = ["day", "start_time", "end_time"]  # then the place, modality, channels

    def clean_day(self):
        return bounded_day(self.cleaned_data["day"])

    def period(self) -> tuple[datetime, datetime]:
        data = self.cleaned_data
        start = timezone.make_aware(datetime.combine(data["day"], data["start_time"]))
        end = timezone.make_aware(datetime.combine(data["day"], data["end_time"]))
        return start, end


class ImportForm(_PlacedSlotsForm):
    file = forms.FileField(label="Fichier .ics")
    field_order = ["file"]


class ParticipationForm(forms.Form):
    sas_participant = forms.BooleanField(
        label="Je participe au SAS (niveau 1), ce qui implique d'accepter des patients "
        "en surnuméraire",
        required=False,
    )
    participation_mode = forms.ChoiceField(label="Je participe", choices=ParticipationMode.choices)
    level2_only = forms.BooleanField(label="Niveau 2 (CPTS) uniquement", required=False)
    max_snp_per_day = forms.IntegerField(label="Patients SNP au plus par jour", required=False)
    max_snp_per_week = forms.IntegerField(label="Patients SNP au plus par semaine", required=False)
    declares_two_hours = forms.BooleanField(
        label="Je déclare au moins 2 h par semaine de disponibilité pour le SAS", required=False
    )
