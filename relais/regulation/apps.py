from django.apps import AppConfig


class RegulationConfig(AppConfig):
    name = "relais.regulation"
    label = "regulation"
    verbose_name = "Régulation"
