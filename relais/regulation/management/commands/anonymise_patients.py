from django.core.management.base import BaseCommand

from relais.regulation.retention import patients_anonymise, patients_due_for_anonymisation


class Command(BaseCommand):
    help = "Anonymise les patients au-delà de la durée de conservation (à lancer chaque nuit)."

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, default=None)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, months, dry_run, **options):
        if dry_run:
            count = patients_due_for_anonymisation(months=months).count()
            self.stdout.write(f"{count} patient(s) seraient anonymisés.")
            return
        self.stdout.write(f"{patients_anonymise(months=months)} patient(s) anonymisé(s).")
