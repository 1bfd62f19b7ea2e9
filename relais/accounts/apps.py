from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "relais.accounts"
    label = "accounts"
    verbose_name = "Comptes"

    def ready(self):
        from relais.accounts import checks  # noqa: F401 - registers the deploy checks
