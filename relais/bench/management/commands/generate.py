"""`relais generate`: a national-scale dataset from the real communes (see relais.bench).

relais generate --professionals 60000 --days 14 --requests 1000000 --seed 1

Meant for a throw-away benchmark database: PostgreSQL loads by COPY (and skips the
foreign-key triggers when run as a superuser); other databases by batched inserts.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from relais.bench import dataset


class Command(BaseCommand):
    help = "Génère un jeu de données national (communes réelles, données fictives)."

    def add_arguments(self, parser):
        parser.add_argument("--professionals", type=int, default=60_000)
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--requests", type=int, default=1_000_000)
        parser.add_argument(
            "--open-requests", type=int, default=None, help="Défaut : requests / 20 (min. 50)."
        )
        parser.add_argument("--slots-per-day", type=float, default=dataset.SLOTS_PER_DAY)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--departements", default="", help="Codes séparés par des virgules (défaut : tous)."
        )
        parser.add_argument(
            "--reset", action="store_true", help="Vide d'abord les données générées (PostgreSQL)."
        )

    def handle(self, *args, **o):
        if dataset.generated_exists():
            if not o["reset"]:
                raise CommandError("Des données générées existent déjà : relancez avec --reset.")
            if connection.vendor != "postgresql":
                raise CommandError("--reset : PostgreSQL seulement.")
            dataset.reset()
            self.stdout.write("Données générées précédentes effacées.")
        departements = {c.strip() for c in o["departements"].split(",") if c.strip()} or None
        generator = dataset.Generator(
            professionals=o["professionals"],
            days=o["days"],
            requests=o["requests"],
            open_requests=o["open_requests"],
            seed=o["seed"],
            departements=departements,
            slots_per_day=o["slots_per_day"],
            log=self.stdout.write,
        )
        generator.run()
