from django.apps import AppConfig


class IndicatorsConfig(AppConfig):
    name = "relais.indicators"
    label = "indicators"
    verbose_name = "Indicateurs"
