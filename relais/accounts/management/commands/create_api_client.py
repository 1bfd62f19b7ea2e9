from django.core.management.base import BaseCommand, CommandError

from relais.accounts.services import API_SCOPES, api_client_create
from relais.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Crée un client API et affiche son jeton (une seule fois) sur la dernière ligne."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Portées séparées par des virgules parmi : {', '.join(sorted(API_SCOPES))}",
        )

    def handle(self, *args, name, scopes, **options):
        try:
            client, token = api_client_create(
                name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Client API « {client.name} » créé, portées : {', '.join(client.scopes)}."
        )
        self.stdout.write("Conservez ce jeton, il ne sera plus affiché :")
        self.stdout.write(token)
