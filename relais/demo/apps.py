from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo builder and its commands (`demo_data`, `serve_demo`); no models."""

    name = "relais.demo"
    label = "demo"
    verbose_name = "Démonstration"
