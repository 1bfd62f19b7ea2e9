from django import forms

from relais.audit.selectors import AuditFilter


class AuditFilterForm(forms.Form):
    username = forms.CharField(label="Utilisateur (identifiant)", required=False, max_length=150)
    action = forms.CharField(label="Action", required=False, max_length=20)
    object_type = forms.CharField(label="Type d'objet", required=False, max_length=50)
    start = forms.DateField(
        label="Du", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="Au", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("La date de fin précède la date de début.")
        return data

    def filters(self) -> AuditFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return AuditFilter(
            username=(data.get("username") or "").strip(),
            action=(data.get("action") or "").strip(),
            object_type=(data.get("object_type") or "").strip(),
            start=data.get("start"),
            end=data.get("end"),
        )
