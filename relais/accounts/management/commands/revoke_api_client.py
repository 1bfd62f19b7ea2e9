from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from relais.accounts.models import ApiClient
from relais.accounts.services import api_client_revoke
from relais.audit.services import audit_record


class Command(BaseCommand):
    help = "Révoque un client API : son jeton est refusé dès maintenant."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)

    def handle(self, *args, name, **options):
        client = ApiClient.objects.filter(name=name.strip()).first()
        if client is None:
            raise CommandError(f"Aucun client API nommé « {name} ».")
        if client.revoked_at is not None:
            raise CommandError(f"Le client API « {client.name} » est déjà révoqué.")
        with transaction.atomic():
            api_client_revoke(client=client)
            audit_record(action="update", obj=client, reason="client API révoqué")
        self.stdout.write(f"Client API « {client.name} » révoqué.")
