from django import forms

TIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class SurnumeraireForm(forms.Form):
    professional = forms.UUIDField()
    start = forms.DateTimeField(
        label="Heure du rendez-vous", widget=TIME_INPUT, input_formats=["%Y-%m-%dT%H:%M"]
    )


class Level2AnswerForm(forms.Form):
    action = forms.ChoiceField(choices=[("accept", "J'accepte"), ("decline", "Je décline")])
    start = forms.DateTimeField(
        label="Je peux le recevoir à",
        required=False,
        widget=TIME_INPUT,
        input_formats=["%Y-%m-%dT%H:%M"],
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == "accept" and not data.get("start"):
            self.add_error("start", "Indiquez l'heure à laquelle vous recevez le patient.")
        return data
