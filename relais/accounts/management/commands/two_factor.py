from django.core.management.base import BaseCommand, CommandError

from relais.accounts.services import otp_admin_confirm, otp_admin_reset, otp_admin_unlock
from relais.core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Administration du second facteur d'un compte : confirmer une application en "
        "attente (--confirm), déverrouiller après trop de codes faux (--unlock), "
        "supprimer les applications d'un téléphone perdu (--reset). Chaque action est "
        "inscrite au journal d'audit."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--confirm", action="store_true")
        action.add_argument("--unlock", action="store_true")
        action.add_argument("--reset", action="store_true")
        parser.add_argument(
            "--reason", required=True, help="Motif (ex. : identité vérifiée par téléphone)"
        )

    def handle(self, *args, username, confirm, unlock, reset, reason, **options):
        try:
            if confirm:
                otp_admin_confirm(username=username, reason=reason)
                done = "application d'authentification confirmée"
            elif unlock:
                otp_admin_unlock(username=username, reason=reason)
                done = "second facteur déverrouillé"
            else:
                otp_admin_reset(username=username, reason=reason)
                done = "applications d'authentification supprimées"
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{username} : {done}.")
