"""relais import_professionals --cpts <public id> FILE.csv [--dry-run] [--invite]

The same check and the same all-or-nothing write as the back-office import page
(relais.directory.imports); refused lines are listed with their French reason."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from relais.core.errors import ApplicationError
from relais.directory.imports import import_apply, import_parse_bytes
from relais.territory.selectors import cpts_get_public


class Command(BaseCommand):
    help = (
        "Importe des professionnels d'un fichier CSV dans une CPTS (voir docs/administration.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--cpts", required=True, help="identifiant public (UUID) de la CPTS")
        parser.add_argument("--dry-run", action="store_true", help="vérifier sans rien écrire")
        parser.add_argument(
            "--invite", action="store_true", help="inviter par e-mail ceux qui n'ont pas de compte"
        )

    def handle(self, *args, file: Path, cpts: str, dry_run: bool, invite: bool, **options):
        try:
            target = cpts_get_public(public_id=cpts)
        except Exception:  # noqa: BLE001 - a malformed UUID is an unknown CPTS
            target = None
        if target is None:
            raise CommandError(f"CPTS inconnue : {cpts}")
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Fichier illisible : {exc}") from None
        parsed = import_parse_bytes(raw)
        for error in parsed.errors:
            self.stderr.write(error)
        if parsed.errors:
            raise CommandError("Fichier refusé : rien n'a été importé.")
        for line in parsed.refused:
            self.stderr.write(f"ligne {line.number} : {' '.join(line.errors)}")
        creates = sum(1 for line in parsed.accepted if line.action == "create")
        self.stdout.write(
            f"{len(parsed.lines)} lignes lues ({parsed.encoding}) : {len(parsed.accepted)} "
            f"acceptées ({creates} nouvelles, {len(parsed.accepted) - creates} mises à jour), "
            f"{len(parsed.refused)} refusées."
        )
        if dry_run:
            self.stdout.write("Vérification seule (--dry-run) : rien n'a été écrit.")
            return
        try:
            summary = import_apply(parsed=parsed, cpts=target, send_invitations=invite)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Importé dans {target.name} : {summary['created']} créés, {summary['updated']} mis "
            f"à jour, {summary['unchanged']} inchangés, {summary['practices_created']} lieux "
            f"créés, {summary['invitations']} invitations."
        )
