from django.core.management.base import BaseCommand

from relais.accounts.models import ApiClient


class Command(BaseCommand):
    help = "Liste les clients API : nom, préfixe du jeton, portées, SAS, état."

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", dest="include_revoked", help="inclure les révoqués"
        )

    def handle(self, *args, include_revoked, **options):
        clients = ApiClient.objects.prefetch_related("sas_scope__departement").order_by("name")
        if not include_revoked:
            clients = clients.filter(revoked_at__isnull=True)
        if not clients:
            self.stdout.write("Aucun client API.")
        for client in clients:
            sas = ",".join(sorted(s.departement.code for s in client.sas_scope.all())) or "tous"
            state = f"révoqué le {client.revoked_at:%Y-%m-%d}" if client.revoked_at else "actif"
            used = f"{client.last_used_at:%Y-%m-%d %H:%M}" if client.last_used_at else "jamais"
            self.stdout.write(
                f"{client.name}\t{client.token_prefix}…\t{','.join(client.scopes)}\t"
                f"SAS {sas}\t{state}\tdernier appel : {used}"
            )
