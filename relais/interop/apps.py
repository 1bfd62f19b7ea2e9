from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "relais.interop"
    label = "interop"
    verbose_name = "Interopérabilité"
