from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "relais.core"
    label = "core"
    verbose_name = "Relais"

    def ready(self):
        from relais.core import lookups  # noqa: F401 - registers the `any_of` lookup
