import time

from django.core.management.base import BaseCommand

from relais.demo.builder import DEMO_PASSWORD, build_demo


class Command(BaseCommand):
    help = "Construit (ou complète) le territoire de démonstration : Haute-Loire et Essonne."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=14, help="Jours de créneaux à venir.")
        parser.add_argument("--print-logins", action="store_true", help="Affiche les comptes.")

    def handle(self, *args, days, print_logins, **options):
        started = time.monotonic()
        logins = build_demo(stdout=self.stdout, days=days)
        self.stdout.write(
            f"Territoire de démonstration prêt en {time.monotonic() - started:.1f} s."
        )
        if print_logins:
            self.stdout.write("")
            self.stdout.write(f"Comptes de démonstration (mot de passe commun : {DEMO_PASSWORD})")
            for username, label in logins:
                self.stdout.write(f"  {username:<14} {label}")
            self.stdout.write("")
            from django.conf import settings

            self.stdout.write(f"Ouvrez {settings.SITE_URL}/ et connectez-vous.")
            from relais.territory.models import Cpts

            cpts = Cpts.objects.filter(name="CPTS Cœur Essonne").first()
            if cpts is not None:
                self.stdout.write(
                    "Formulaire patient (aux heures de la CPTS) : "
                    f"{settings.SITE_URL}/demande-en-ligne/{cpts.public_id}/"
                )
