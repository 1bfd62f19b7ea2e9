from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from relais.accounts.services import API_SCOPES, api_client_create
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError
from relais.territory.models import Sas


def sas_of_departements(codes: str) -> list[Sas]:
    """The SAS of each département code ("91,43"), or a French error naming the unknown."""
    wanted = [c.strip().upper() for c in codes.split(",") if c.strip()]
    if not wanted:
        raise CommandError("--sas : indiquez au moins un code de département (ex. 91,43).")
    found = {s.departement.code.upper(): s for s in Sas.objects.select_related("departement")}
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise CommandError(
            f"--sas : aucun SAS pour le(s) département(s) {', '.join(unknown)}. "
            f"SAS configurés : {', '.join(sorted(found)) or 'aucun'}."
        )
    return [found[c] for c in dict.fromkeys(wanted)]


class Command(BaseCommand):
    help = "Crée un client API et affiche son jeton (une seule fois) sur la dernière ligne."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Portées séparées par des virgules parmi : {', '.join(sorted(API_SCOPES))}",
        )
        parser.add_argument(
            "--sas",
            default="",
            help="Limiter le jeton aux SAS de ces départements (codes séparés par des virgules, "
            "ex. 91,43) ; sans cette option, le jeton vaut pour tous les territoires.",
        )
        parser.add_argument(
            "--client-cert",
            default="",
            metavar="FICHIER.pem",
            help="Certificat client (PEM) qui authentifie ce client en TLS mutuel, "
            "sans jeton (plateforme nationale SAS : certificat IGC-Santé).",
        )

    def handle(self, *args, name, scopes, sas, client_cert, **options):
        from relais.accounts.client_cert import api_client_set_certificate

        territories = sas_of_departements(sas) if sas else []
        pem = None
        if client_cert:
            try:
                with open(client_cert, "rb") as handle:
                    pem = handle.read()
            except OSError as exc:
                raise CommandError(f"--client-cert : lecture impossible ({exc}).") from exc
        try:
            with transaction.atomic():
                client, token = api_client_create(
                    name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()]
                )
                client.sas_scope.set(territories)
                cert = api_client_set_certificate(client=client, pem=pem) if pem else None
                audit_record(
                    action="create",
                    obj=client,
                    reason=f"client API, SAS : {_territories(territories)}",
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Client API « {client.name} » créé, portées : {', '.join(client.scopes)} ; "
            f"territoire : {_territories(territories)}."
        )
        if cert is not None:
            self.stdout.write(
                f"Certificat client : {cert.subject} (SHA-256 {cert.fingerprint}, "
                f"valable jusqu'au {cert.not_after:%d/%m/%Y})."
            )
        self.stdout.write("Conservez ce jeton, il ne sera plus affiché :")
        self.stdout.write(token)


def _territories(territories) -> str:
    return ", ".join(s.departement.code for s in territories) or "tous (aucune limite)"
